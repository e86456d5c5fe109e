// The root model declares exactly the official state_dict: the full-size ToonCrafterModel built from the
// default config (the official 512 model) against golden/full_keys.tsv (2,668 entries), and the tiny model
// from tiny.yaml against tiny/keys.tsv (1,388). Nothing missing, nothing extra, every shape equal, in the
// state_dict's order. Building the full model allocates nothing.
#include <fstream>
#include <map>
#include <sstream>

#include "io/model_config.h"
#include "models/tooncrafter_model.h"
#include "test_util.h"

namespace {

struct KeyRow {
    std::string name;
    tc::Shape shape;
};

// Rows "key<TAB>shape<TAB>..." with shape "1280x320" or "scalar"; '#' lines are comments.
std::vector<KeyRow> read_keys(const std::string& path) {
    std::ifstream in(path);
    std::vector<KeyRow> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        KeyRow r;
        std::string shape;
        std::getline(ls, r.name, '\t');
        std::getline(ls, shape, '\t');
        if (shape != "scalar") {
            std::istringstream ss(shape);
            std::string d;
            while (std::getline(ss, d, 'x')) r.shape.push_back(std::stoll(d));
        }
        rows.push_back(r);
    }
    return rows;
}

void expect_same_keys(const tc::Module& m, const std::vector<KeyRow>& ref, const char* what) {
    std::vector<KeyRow> ours;
    m.visit_params([&](const std::string& n, const tc::Param& p) { ours.push_back({n, p.shape}); });
    std::map<std::string, tc::Shape> ref_map, our_map;
    for (const auto& r : ref) ref_map[r.name] = r.shape;
    for (const auto& r : ours) our_map[r.name] = r.shape;
    size_t missing = 0, extra = 0, wrong = 0;
    for (const auto& [n, s] : ref_map) {
        auto it = our_map.find(n);
        if (it == our_map.end()) {
            if (++missing <= 20) ADD_FAILURE() << what << ": not declared: " << n;
        } else if (it->second != s) {
            if (++wrong <= 20)
                ADD_FAILURE() << what << ": " << n << " declared " << tc::shape_str(it->second) << ", official "
                              << tc::shape_str(s);
        }
    }
    for (const auto& [n, s] : our_map)
        if (!ref_map.count(n) && ++extra <= 20) ADD_FAILURE() << what << ": declared but not official: " << n;
    std::printf("[keys] %s: %zu declared, %zu official; missing %zu, extra %zu, wrong shape %zu\n", what, ours.size(),
                ref.size(), missing, extra, wrong);
    EXPECT_EQ(ours.size(), ref.size()) << what;
    EXPECT_EQ(our_map.size(), ours.size()) << what << ": duplicate names";
    // Same order as the state_dict (informative for readers of `inspect`; strict binding does not need it).
    if (ours.size() == ref.size()) {
        size_t first_diff = ours.size();
        for (size_t i = 0; i < ours.size(); ++i)
            if (ours[i].name != ref[i].name) {
                first_diff = i;
                break;
            }
        EXPECT_EQ(first_diff, ours.size()) << what << ": order differs first at row " << first_diff << " ("
                                           << (first_diff < ours.size() ? ours[first_diff].name + " vs " + ref[first_diff].name : "") << ")";
    }
}

}  // namespace

TEST(WeightMapFull, OfficialModelDeclaresEveryKey) {
    TC_REQUIRE_SHARED(path, "golden/full_keys.tsv");
    std::vector<KeyRow> ref = read_keys(path);
    ASSERT_EQ(ref.size(), 2668u);
    tc::ToonCrafterModel model{tc::ToonCrafterConfig{}};
    expect_same_keys(model, ref, "full 512 model");
    int64_t numel = 0;
    model.visit_params([&](const std::string&, const tc::Param& p) { numel += tc::shape_numel(p.shape); });
    EXPECT_EQ(numel, 2625430449);
}

TEST(WeightMapFull, TinyModelDeclaresEveryKey) {
    TC_REQUIRE_SHARED(keys, "golden/tiny/keys.tsv");
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    std::vector<KeyRow> ref = read_keys(keys);
    ASSERT_EQ(ref.size(), 1388u);
    tc::ToonCrafterModel model{tc::load_model_config(yaml)};
    expect_same_keys(model, ref, "tiny model");
}

TEST(WeightMapFull, ScheduleBuffersAreBuffers) {
    tc::ToonCrafterModel model{tc::ToonCrafterConfig{}};
    std::vector<std::string> root_buffers;
    model.visit_params([&](const std::string& n, const tc::Param& p) {
        if (n.find('.') == std::string::npos) {
            EXPECT_TRUE(p.buffer) << n;
            root_buffers.push_back(n);
        }
    });
    EXPECT_EQ(root_buffers, tc::ToonCrafterModel::schedule_buffer_names());
    EXPECT_EQ(root_buffers.size(), 13u);
}
