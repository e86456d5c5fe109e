// RAII for SQLite statements, shared by the server's SQLite stores (jobs, API keys): prepare in the
// constructor, finalize in the destructor, chainable binds, typed column reads; every SQLite error throws
// tc::Error with SQLite's message. Plus sqlite_exec for statements without parameters.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "core/error.h"

namespace tc::server {

class SqliteStatement {
public:
    SqliteStatement(sqlite3* db, const std::string& sql) : db_(db) {
        TC_CHECK(sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &st_, nullptr) == SQLITE_OK,
                 "sqlite prepare failed: ", sqlite3_errmsg(db), " in: ", sql);
    }
    ~SqliteStatement() { sqlite3_finalize(st_); }
    SqliteStatement(const SqliteStatement&) = delete;
    SqliteStatement& operator=(const SqliteStatement&) = delete;

    SqliteStatement& bind(int i, const std::string& v) {
        check(sqlite3_bind_text(st_, i, v.data(), int(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    SqliteStatement& bind_nullable(int i, const std::string& v) {  // "" binds NULL
        if (v.empty()) check(sqlite3_bind_null(st_, i));
        else bind(i, v);
        return *this;
    }
    SqliteStatement& bind(int i, double v) {
        check(sqlite3_bind_double(st_, i, v));
        return *this;
    }
    SqliteStatement& bind(int i, int64_t v) {
        check(sqlite3_bind_int64(st_, i, v));
        return *this;
    }
    SqliteStatement& bind_blob(int i, const void* p, int n) {
        check(sqlite3_bind_blob(st_, i, p, n, SQLITE_TRANSIENT));
        return *this;
    }
    // True while a row is available, false when done.
    bool step() {
        const int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        TC_CHECK(rc == SQLITE_DONE, "sqlite step failed: ", sqlite3_errmsg(db_));
        return false;
    }
    void run() {  // every row (a statement that returns none)
        while (step()) {
        }
    }
    std::string text(int c) const {
        const unsigned char* t = sqlite3_column_text(st_, c);
        return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(st_, c))) : std::string();
    }
    std::string blob(int c) const {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(st_, c));
        return p ? std::string(p, size_t(sqlite3_column_bytes(st_, c))) : std::string();
    }
    double real(int c) const { return sqlite3_column_double(st_, c); }
    int64_t integer(int c) const { return sqlite3_column_int64(st_, c); }

private:
    void check(int rc) { TC_CHECK(rc == SQLITE_OK, "sqlite bind failed: ", sqlite3_errmsg(db_)); }
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

// A statement without parameters (PRAGMA, DDL, BEGIN/COMMIT).
inline void sqlite_exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string msg = err ? err : (rc == SQLITE_OK ? "" : sqlite3_errmsg(db));
    sqlite3_free(err);
    TC_CHECK(rc == SQLITE_OK, "sqlite: ", msg, " in: ", sql);
}

}  // namespace tc::server
