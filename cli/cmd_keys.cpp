// `tooncrafter keys create|list|revoke` and `tooncrafter credits add`: API key administration on the key
// store of a data directory, or with --queue redis://... (or $TOONCRAFTER_QUEUE, as for `serve`) on the Redis
// key store that the scale-out API nodes share (server/auth.h make_key_store). `keys create` prints only the
// new key on stdout, so scripts can capture it: `KEY=$(tooncrafter keys create --credits 100)`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "server/auth.h"

namespace tc::cli {

namespace {

// --data-dir, else $TOONCRAFTER_DATA_DIR, else ./tooncrafter-data (the same default as `serve`).
std::string resolve_data_dir(const std::string& given) {
    if (!given.empty()) return given;
    if (const char* env = std::getenv("TOONCRAFTER_DATA_DIR"); env && *env) return env;
    return "./tooncrafter-data";
}

// --data-dir, and --queue: the same variable and meaning as `serve --queue`, so one environment configures both.
void add_data_dir_option(CLI::App* sub, KeysOptions& opts) {
    sub->add_option("--data-dir", opts.data_dir,
                    "data directory holding keys.db (default: $TOONCRAFTER_DATA_DIR, else ./tooncrafter-data)");
    sub->add_option("--queue", opts.queue,
                    "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: the keys of the scale-out API nodes, in Redis "
                    "(--data-dir is then not used)")
        ->envname("TOONCRAFTER_QUEUE");
}

}  // namespace

CLI::App* add_keys_commands(CLI::App& app, KeysOptions& opts) {
    auto* keys = app.add_subcommand("keys", "Manage the server's API keys");
    keys->require_subcommand(1);

    auto* create = keys->add_subcommand("create", "Create an API key and print it (shown only this once)");
    create->add_option("--name", opts.name, "a label for the key");
    create->add_option("--credits", opts.credits, "initial credits (default 0)")->check(CLI::NonNegativeNumber);
    add_data_dir_option(create, opts);
    create->callback([&opts] { opts.action = "create"; });

    auto* list = keys->add_subcommand("list", "List the API keys (id, name, credits, revoked, created)");
    list->add_flag("--json", opts.json, "print a JSON array instead of a table");
    add_data_dir_option(list, opts);
    list->callback([&opts] { opts.action = "list"; });

    auto* revoke = keys->add_subcommand("revoke", "Revoke an API key (it stops authenticating at once)");
    revoke->add_option("id", opts.target, "the key's id (or the key itself)")->required();
    add_data_dir_option(revoke, opts);
    revoke->callback([&opts] { opts.action = "revoke"; });

    auto* credits = app.add_subcommand("credits", "Manage the credits of an API key");
    credits->require_subcommand(1);
    auto* add = credits->add_subcommand("add", "Add N credits (negative to remove) and print the new balance");
    add->add_option("key", opts.target, "the key's id, or the key itself")->required();
    add->add_option("n", opts.credits, "credits to add")->required()->allow_extra_args(false);
    add_data_dir_option(add, opts);
    add->callback([&opts] { opts.action = "credits-add"; });
    return keys;
}

int cmd_keys(const KeysOptions& opts) {
    auto store = server::make_key_store(opts.queue.empty() ? resolve_data_dir(opts.data_dir) : "", opts.queue);

    if (opts.action == "create") {
        const std::string key = store->create_key(opts.name, opts.credits);
        std::printf("%s\n", key.c_str());
        return 0;
    }
    if (opts.action == "list") {
        const auto keys = store->list();
        if (opts.json) {
            std::printf("[");
            for (size_t i = 0; i < keys.size(); ++i) {
                const auto& k = keys[i];
                // Names are user text: escape them the JSON way.
                std::string name;
                for (unsigned char c : k.name) {
                    if (c == '"' || c == '\\') {
                        name += '\\';
                        name += char(c);
                    } else if (c < 0x20) {
                        char buf[8];
                        std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        name += buf;
                    } else {
                        name += char(c);
                    }
                }
                std::printf("%s{\"id\":\"%s\",\"name\":\"%s\",\"credits\":%lld,\"revoked\":%s,\"created_at\":\"%s\"}",
                            i ? "," : "", k.id.c_str(), name.c_str(), static_cast<long long>(k.credits),
                            k.revoked ? "true" : "false", k.created_at.c_str());
            }
            std::printf("]\n");
            return 0;
        }
        std::printf("%-20s  %-20s  %12s  %-7s  %s\n", "ID", "NAME", "CREDITS", "REVOKED", "CREATED");
        for (const auto& k : keys)
            std::printf("%-20s  %-20s  %12lld  %-7s  %s\n", k.id.c_str(), k.name.c_str(),
                        static_cast<long long>(k.credits), k.revoked ? "yes" : "no", k.created_at.c_str());
        return 0;
    }
    if (opts.action == "revoke" || opts.action == "credits-add") {
        const auto id = store->resolve_id(opts.target);
        // Never echo what was given: it may be a raw key.
        TC_CHECK(id.has_value(), "no such API key or key id");
        if (opts.action == "revoke") {
            store->revoke(*id);
            std::fprintf(stderr, "revoked %s\n", id->c_str());
        } else {
            const int64_t balance = store->add_credits(*id, opts.credits);
            std::printf("%lld\n", static_cast<long long>(balance));
        }
        return 0;
    }
    TC_FAIL("unknown keys action '", opts.action, "'");
}

}  // namespace tc::cli
