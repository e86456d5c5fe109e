// SQLite job store (see sqlite_job_store.h). Every statement is prepared, bound and finalised through the
// Stmt RAII wrapper below; errors throw tc::Error with SQLite's message.
#include "server/sqlite_job_store.h"

#include <sqlite3.h>

#include <algorithm>

#include "core/error.h"
#include "server/sqlite_statement.h"

namespace tc::server {

std::string job_state_name(JobState s) {
    switch (s) {
        case JobState::Queued: return "QUEUED";
        case JobState::Processing: return "PROCESSING";
        case JobState::Completed: return "COMPLETED";
        case JobState::Failed: return "FAILED";
    }
    return "FAILED";
}

JobState parse_job_state(const std::string& n) {
    if (n == "QUEUED") return JobState::Queued;
    if (n == "PROCESSING") return JobState::Processing;
    if (n == "COMPLETED") return JobState::Completed;
    if (n == "FAILED") return JobState::Failed;
    TC_FAIL("unknown job state '", n, "'");
}

namespace {

// The columns update() and create() write, in bind_fields order after id.
constexpr const char* kWriteColumns =
    "id, state, params, created_at, started_at, finished_at, attempts, stage, step, total_steps, segment, error, "
    "output, output_mime, output_bytes, idempotency_key, body_hash, cancel_requested";
// What read_row reads: the written columns, then the store-managed after-finish hook columns (schema 2).
constexpr const char* kColumns =
    "id, state, params, created_at, started_at, finished_at, attempts, stage, step, total_steps, segment, error, "
    "output, output_mime, output_bytes, idempotency_key, body_hash, cancel_requested, hooks_pending, refunded, "
    "webhook";

using Stmt = SqliteStatement;

JobRecord read_row(const Stmt& s) {
    JobRecord j;
    j.id = s.text(0);
    j.state = parse_job_state(s.text(1));
    j.params = s.text(2);
    j.created_at = s.real(3);
    j.started_at = s.real(4);
    j.finished_at = s.real(5);
    j.attempts = int(s.integer(6));
    j.stage = s.text(7);
    j.step = int(s.integer(8));
    j.total_steps = int(s.integer(9));
    j.segment = int(s.integer(10));
    j.error = s.text(11);
    j.output = s.text(12);
    j.output_mime = s.text(13);
    j.output_bytes = s.integer(14);
    j.idempotency_key = s.text(15);
    j.body_hash = s.text(16);
    j.cancel_requested = s.integer(17) != 0;
    j.hooks_pending = s.integer(18) != 0;
    j.refunded = s.integer(19) != 0;
    j.webhook = s.text(20);
    return j;
}

// Binds every column after id in kColumns order, starting at parameter `first`.
void bind_fields(Stmt& s, int first, const JobRecord& j) {
    s.bind(first + 0, job_state_name(j.state))
        .bind(first + 1, j.params)
        .bind(first + 2, j.created_at)
        .bind(first + 3, j.started_at)
        .bind(first + 4, j.finished_at)
        .bind(first + 5, int64_t(j.attempts))
        .bind(first + 6, j.stage)
        .bind(first + 7, int64_t(j.step))
        .bind(first + 8, int64_t(j.total_steps))
        .bind(first + 9, int64_t(j.segment))
        .bind(first + 10, j.error)
        .bind(first + 11, j.output)
        .bind(first + 12, j.output_mime)
        .bind(first + 13, j.output_bytes)
        .bind_nullable(first + 14, j.idempotency_key)
        .bind(first + 15, j.body_hash)
        .bind(first + 16, int64_t(j.cancel_requested ? 1 : 0));
}

}  // namespace

void SqliteJobStore::DbDeleter::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

SqliteJobStore::SqliteJobStore(const std::string& path) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                   nullptr);
    db_.reset(raw);  // sqlite3_open_v2 may allocate a handle even on failure
    TC_CHECK(rc == SQLITE_OK, "cannot open job store ", path, ": ", raw ? sqlite3_errmsg(raw) : "out of memory");
    sqlite3_busy_timeout(db_.get(), 5000);
    if (path != ":memory:") exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    int64_t version = 0;
    {
        Stmt s(db_.get(), "PRAGMA user_version");
        if (s.step()) version = s.integer(0);
    }
    TC_CHECK(version <= kSchemaVersion, "job store ", path, " has schema version ", version,
             ", newer than this server's ", kSchemaVersion, ": use a newer tooncrafter or another --data-dir");
    if (version < 1) {
        exec("BEGIN");
        exec("CREATE TABLE IF NOT EXISTS jobs ("
             " id TEXT PRIMARY KEY, state TEXT NOT NULL, params TEXT NOT NULL,"
             " created_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, finished_at REAL NOT NULL DEFAULT 0,"
             " attempts INTEGER NOT NULL DEFAULT 0, stage TEXT NOT NULL DEFAULT '', step INTEGER NOT NULL DEFAULT 0,"
             " total_steps INTEGER NOT NULL DEFAULT 0, segment INTEGER NOT NULL DEFAULT -1,"
             " error TEXT NOT NULL DEFAULT '', output TEXT NOT NULL DEFAULT '', output_mime TEXT NOT NULL DEFAULT '',"
             " output_bytes INTEGER NOT NULL DEFAULT 0, idempotency_key TEXT UNIQUE, body_hash TEXT NOT NULL DEFAULT '',"
             " cancel_requested INTEGER NOT NULL DEFAULT 0)");
        exec("CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs(state, created_at)");
        exec("PRAGMA user_version = 1");
        exec("COMMIT");
    }
    if (version < 2) {
        // Schema 2: the after-finish outbox (job_store.h take_hooks ...). Jobs finished under schema 1 had their
        // hooks run in-process already: they start not pending.
        exec("BEGIN");
        exec("ALTER TABLE jobs ADD COLUMN hooks_pending INTEGER NOT NULL DEFAULT 0");
        exec("ALTER TABLE jobs ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0");
        exec("ALTER TABLE jobs ADD COLUMN webhook TEXT NOT NULL DEFAULT ''");
        exec("ALTER TABLE jobs ADD COLUMN hooks_owner TEXT NOT NULL DEFAULT ''");
        exec("ALTER TABLE jobs ADD COLUMN hooks_claimed_at REAL NOT NULL DEFAULT 0");
        exec("CREATE INDEX IF NOT EXISTS jobs_hooks ON jobs(hooks_pending, finished_at)");
        exec("PRAGMA user_version = 2");
        exec("COMMIT");
    }
}

SqliteJobStore::~SqliteJobStore() = default;

void SqliteJobStore::exec(const char* sql) { sqlite_exec(db_.get(), sql); }

void SqliteJobStore::create(const JobRecord& j) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), std::string("INSERT INTO jobs (") + kWriteColumns +
                          ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)");
    s.bind(1, j.id);
    bind_fields(s, 2, j);
    s.step();
}

std::optional<JobRecord> SqliteJobStore::get(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), std::string("SELECT ") + kColumns + " FROM jobs WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_row(s);
}

std::optional<JobRecord> SqliteJobStore::find_by_idempotency_key(const std::string& key) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), std::string("SELECT ") + kColumns + " FROM jobs WHERE idempotency_key = ?1");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return read_row(s);
}

bool SqliteJobStore::update(const JobRecord& j) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(),
           "UPDATE jobs SET state=?2, params=?3, created_at=?4, started_at=?5, finished_at=?6, attempts=?7, stage=?8,"
           " step=?9, total_steps=?10, segment=?11, error=?12, output=?13, output_mime=?14, output_bytes=?15,"
           " idempotency_key=?16, body_hash=?17, cancel_requested=?18,"
           // The hooks become pending in this same statement when the job finishes (SET expressions read the
           // row as it was, so `state` here is the old state): a finish is never recorded without its hooks.
           " hooks_pending = CASE WHEN ?2 IN ('COMPLETED','FAILED') AND state NOT IN ('COMPLETED','FAILED')"
           " THEN 1 ELSE hooks_pending END"
           " WHERE id=?1");
    s.bind(1, j.id);
    bind_fields(s, 2, j);
    s.step();
    // One process owns this store and its JobManager serialises writers: only a missing id is refused.
    return sqlite3_changes(db_.get()) > 0;
}

std::optional<JobRecord> SqliteJobStore::claim_next_queued(double now) {
    std::lock_guard lk(mu_);
    exec("BEGIN IMMEDIATE");
    try {
        std::optional<JobRecord> j;
        {
            Stmt s(db_.get(), std::string("SELECT ") + kColumns +
                                  " FROM jobs WHERE state='QUEUED' ORDER BY created_at, rowid LIMIT 1");
            if (s.step()) j = read_row(s);
        }
        if (j) {
            j->state = JobState::Processing;
            j->started_at = now;
            j->attempts += 1;
            Stmt u(db_.get(), "UPDATE jobs SET state='PROCESSING', started_at=?2, attempts=?3 WHERE id=?1");
            u.bind(1, j->id).bind(2, now).bind(3, int64_t(j->attempts));
            u.step();
        }
        exec("COMMIT");
        return j;
    } catch (...) {
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

bool SqliteJobStore::release_claim(const std::string& id) {
    std::lock_guard lk(mu_);
    // One process owns this file, so a PROCESSING job is this process's claim. created_at is kept: the job
    // queues in its original order (claim_next_queued orders by created_at), ahead of jobs accepted after it.
    Stmt s(db_.get(),
           "UPDATE jobs SET state='QUEUED', attempts=MAX(attempts-1,0), started_at=0, stage='', step=0,"
           " total_steps=0, segment=-1 WHERE id=?1 AND state='PROCESSING' AND cancel_requested=0");
    s.bind(1, id);
    s.step();
    return sqlite3_changes(db_.get()) > 0;
}

std::vector<JobRecord> SqliteJobStore::list(std::optional<JobState> state) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), std::string("SELECT ") + kColumns + " FROM jobs" + (state ? " WHERE state=?1" : "") +
                          " ORDER BY created_at, rowid");
    if (state) s.bind(1, job_state_name(*state));
    std::vector<JobRecord> out;
    while (s.step()) out.push_back(read_row(s));
    return out;
}

std::vector<JobRecord> SqliteJobStore::delete_finished_before(double cutoff) {
    std::lock_guard lk(mu_);
    std::vector<JobRecord> out;
    {
        Stmt s(db_.get(), std::string("SELECT ") + kColumns +
                              " FROM jobs WHERE state IN ('COMPLETED','FAILED') AND finished_at < ?1");
        s.bind(1, cutoff);
        while (s.step()) out.push_back(read_row(s));
    }
    for (const auto& j : out) {
        Stmt d(db_.get(), "DELETE FROM jobs WHERE id=?1");
        d.bind(1, j.id);
        d.step();
    }
    return out;
}

std::vector<JobRecord> SqliteJobStore::take_hooks(const std::string& consumer, double now, double idle_s, int max) {
    std::lock_guard lk(mu_);
    exec("BEGIN IMMEDIATE");
    try {
        std::vector<JobRecord> out;
        {
            // One process owns this file, so a hold by another consumer name is a dead process's (the server
            // was restarted): taken at once. This consumer's own holds are taken again only when it stopped
            // renewing them (a lost hook).
            Stmt s(db_.get(), std::string("SELECT ") + kColumns +
                                  " FROM jobs WHERE hooks_pending=1 AND (hooks_owner<>?1 OR hooks_claimed_at<?2)"
                                  " ORDER BY finished_at, rowid LIMIT ?3");
            s.bind(1, consumer).bind(2, now - idle_s).bind(3, int64_t(std::max(1, max)));
            while (s.step()) out.push_back(read_row(s));
        }
        for (const auto& j : out) {
            Stmt u(db_.get(), "UPDATE jobs SET hooks_owner=?2, hooks_claimed_at=?3 WHERE id=?1");
            u.bind(1, j.id).bind(2, consumer).bind(3, now);
            u.step();
        }
        exec("COMMIT");
        return out;
    } catch (...) {
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

bool SqliteJobStore::renew_hooks(const std::string& consumer, const std::string& id, double now) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), "UPDATE jobs SET hooks_claimed_at=?3 WHERE id=?1 AND hooks_owner=?2 AND hooks_pending=1");
    s.bind(1, id).bind(2, consumer).bind(3, now);
    s.step();
    return sqlite3_changes(db_.get()) > 0;
}

bool SqliteJobStore::mark_refunded(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), "UPDATE jobs SET refunded=1 WHERE id=?1 AND refunded=0");
    s.bind(1, id);
    s.step();
    return sqlite3_changes(db_.get()) > 0;
}

bool SqliteJobStore::set_webhook_state(const std::string& id, const std::string& state_json) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), "UPDATE jobs SET webhook=?2 WHERE id=?1");
    s.bind(1, id).bind(2, state_json);
    s.step();
    return sqlite3_changes(db_.get()) > 0;
}

void SqliteJobStore::finish_hooks(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), "UPDATE jobs SET hooks_pending=0, hooks_owner='', hooks_claimed_at=0 WHERE id=?1");
    s.bind(1, id);
    s.step();
}

int64_t SqliteJobStore::count(JobState state) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(), "SELECT COUNT(*) FROM jobs WHERE state=?1");
    s.bind(1, job_state_name(state));
    return s.step() ? s.integer(0) : 0;
}

int64_t SqliteJobStore::queue_position(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_.get(),
           "SELECT COUNT(*) FROM jobs q, jobs me WHERE me.id=?1 AND me.state='QUEUED' AND q.state='QUEUED' AND"
           " (q.created_at < me.created_at OR (q.created_at = me.created_at AND q.rowid < me.rowid))");
    s.bind(1, id);
    int64_t n = s.step() ? s.integer(0) : 0;
    Stmt e(db_.get(), "SELECT 1 FROM jobs WHERE id=?1 AND state='QUEUED'");
    e.bind(1, id);
    return e.step() ? n : -1;
}

}  // namespace tc::server
