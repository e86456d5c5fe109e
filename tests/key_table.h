// Test helper: the official state_dict key tables (golden/full_keys.tsv, golden/tiny/keys.tsv) and the
// comparison of a module's declared parameters against them, shared by the structure tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/module.h"

namespace tc::test {

using KeyRows = std::vector<std::pair<std::string, std::string>>;  // (key without prefix, shape like "320x8x3x3")

// The key tables spell shapes as "AxBxC", and "scalar" for [].
inline std::string shape_col(const Shape& s) {
    if (s.empty()) return "scalar";
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) out += 'x';
        out += std::to_string(s[i]);
    }
    return out;
}

// Rows of a key table whose key starts with `prefix`, with the prefix removed, in file (state_dict) order.
inline KeyRows key_table_rows(const std::string& path, const std::string& prefix) {
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << path;
    KeyRows rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string key, shape;
        std::getline(ls, key, '\t');
        std::getline(ls, shape, '\t');
        if (key.rfind(prefix, 0) == 0) rows.emplace_back(key.substr(prefix.size()), shape);
    }
    return rows;
}

inline KeyRows declared_rows(const Module& m) {
    KeyRows rows;
    m.visit_params([&](const std::string& n, const Param& p) { rows.emplace_back(n, shape_col(p.shape)); });
    return rows;
}

// Same set of (name, shape), same count and same order; every difference is reported by name.
inline void expect_same_rows(const KeyRows& got, const KeyRows& want, const std::string& what) {
    ASSERT_FALSE(want.empty()) << what << ": no rows in the key file";
    std::set<std::pair<std::string, std::string>> g(got.begin(), got.end()), w(want.begin(), want.end());
    for (const auto& r : w)
        if (!g.count(r)) ADD_FAILURE() << what << ": missing " << r.first << " " << r.second;
    for (const auto& r : g)
        if (!w.count(r)) ADD_FAILURE() << what << ": unexpected " << r.first << " " << r.second;
    EXPECT_EQ(got.size(), want.size()) << what;
    EXPECT_TRUE(got == want) << what << ": same entries but not in state_dict order";
}

}  // namespace tc::test
