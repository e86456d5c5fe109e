// Loading FILM weights: the port's TorchScript archives (io/torchscript_archive.h), torch.save state dicts
// or safetensors, in either key generation of the released files (golden/film/README.md section 5.1):
// v1.0.0 held the linear convs (flow estimators' last 1x1, fusion 2x2) as plain nn.Conv2d
// (`..._convs.4.weight`, `fuse.convs.k.0.weight`), v1.0.2 wraps them in util.Conv2d (`..._convs.4.0.weight`,
// `fuse.convs.k.0.0.weight`). The model declares the v1.0.2 names; old names are mapped onto them, and the
// weight map stays strict either way.
#include <map>
#include <regex>
#include <set>

#include "core/error.h"
#include "io/mmap_file.h"
#include "io/torchscript_archive.h"
#include "io/weight_map.h"
#include "io/zip_reader.h"
#include "models/film.h"

namespace tc {

namespace {

// A TensorSource seen through a renaming (new name -> name in the underlying source).
class RenamedSource : public TensorSource {
public:
    RenamedSource(std::unique_ptr<TensorSource> base, std::vector<std::pair<std::string, std::string>> names)
        : base_(std::move(base)), names_(std::move(names)) {
        for (const auto& [n, o] : names_) map_.emplace(n, o);
    }
    std::vector<std::string> names() const override {
        std::vector<std::string> v;
        for (const auto& p : names_) v.push_back(p.first);
        return v;
    }
    bool contains(const std::string& n) const override { return map_.count(n) != 0; }
    TensorInfo info(const std::string& n) const override { return base_->info(orig(n)); }
    Tensor get(const std::string& n) const override { return base_->get(orig(n)); }
    std::string format_name() const override { return base_->format_name(); }

private:
    const std::string& orig(const std::string& n) const {
        auto it = map_.find(n);
        TC_CHECK(it != map_.end(), "no tensor '", n, "'");
        return it->second;
    }
    std::unique_ptr<TensorSource> base_;
    std::vector<std::pair<std::string, std::string>> names_;
    std::map<std::string, std::string> map_;
};

// v1.0.0 spelling of a linear conv -> v1.0.2 spelling ("" when `name` is not one).
std::string new_spelling(const std::string& name) {
    static const std::regex old_linear(
        R"(^(predict_flow\._predictor\._convs\.\d+|predict_flow\._predictors\.\d+\._convs\.\d+|fuse\.convs\.\d+\.\d+)\.(weight|bias)$)");
    std::smatch m;
    if (!std::regex_match(name, m, old_linear)) return "";
    return m[1].str() + ".0." + m[2].str();
}

std::unique_ptr<TensorSource> open_any(const std::string& path) {
    auto file = MappedFile::open(path);
    if (sniff_format(file->bytes().first(std::min<size_t>(file->size(), 16))) == FileFormat::TorchZip) {
        ZipReader zip = ZipReader::parse(file->bytes(), path);
        if (TorchScriptArchive::is_torchscript(zip))
            return std::make_unique<TorchScriptArchive>(TorchScriptArchive::from_bytes(file->bytes(), file, path));
    }
    return open_tensor_source(path);
}

Shape shape_of(const TensorSource& src, const std::string& key, const std::string& path) {
    TC_CHECK(src.contains(key), "'", path, "' is not a FILM (film_net) weight file: it has no tensor '", key, "'");
    return src.info(key).shape;
}

// Counts the consecutive indices k = 0, 1, ... for which `prefix + k + suffix` exists.
int count_indexed(const TensorSource& src, const std::string& prefix, const std::string& suffix) {
    int k = 0;
    while (k < 1000 && src.contains(prefix + std::to_string(k) + suffix)) ++k;
    return k;
}

// The width of the network, from the weight shapes (the archive does not store the constructor args).
FilmConfig infer_config(const TensorSource& src, const std::string& path) {
    FilmConfig cfg;
    const Shape s0 = shape_of(src, "extract.extract_sublevels.convs.0.0.0.weight", path);
    TC_CHECK(s0.size() == 4 && s0[0] > 0, "'", path, "': extract.extract_sublevels.convs.0.0.0.weight has shape ",
             shape_str(s0));
    cfg.filters = s0[0];
    cfg.sub_levels = count_indexed(src, "extract.extract_sublevels.convs.", ".0.0.weight");
    const int spec = count_indexed(src, "predict_flow._predictors.", "._convs.0.0.weight");
    cfg.flow_convs.assign(size_t(spec + 1), 0);
    cfg.flow_filters.assign(size_t(spec + 1), 0);
    auto estimator = [&](const std::string& prefix, size_t level) {
        const Shape w = shape_of(src, prefix + "._convs.0.0.weight", path);
        TC_CHECK(!w.empty(), "'", path, "': ", prefix, "._convs.0.0.weight is a scalar");
        cfg.flow_filters[level] = w[0];
        const int n = count_indexed(src, prefix + "._convs.", ".0.weight");
        TC_CHECK(n >= 3, "'", path, "': ", prefix, " has ", n, " convs (expected at least 3)");
        cfg.flow_convs[level] = n - 2;
    };
    estimator("predict_flow._predictor", size_t(spec));
    for (int k = 0; k < spec; ++k) estimator("predict_flow._predictors." + std::to_string(k), size_t(spec - 1 - k));
    cfg.fusion_pyramid_levels = count_indexed(src, "fuse.convs.", ".1.0.weight") + 1;
    cfg.specialized_levels = spec;
    TC_CHECK(cfg.sub_levels >= 1 && cfg.fusion_pyramid_levels >= 2, "'", path,
             "' is not a FILM (film_net) weight file: ", cfg.sub_levels, " extractor stages, ",
             cfg.fusion_pyramid_levels - 1, " fusion levels");
    return cfg;
}

}  // namespace

std::unique_ptr<Film> load_film(const std::string& path) {
    std::unique_ptr<TensorSource> raw = open_any(path);
    // Map the v1.0.0 spelling onto the declared v1.0.2 names; refuse a file that mixes both for one conv.
    std::vector<std::pair<std::string, std::string>> names;
    std::set<std::string> taken;
    bool renamed = false;
    for (const std::string& n : raw->names()) {
        std::string nn = new_spelling(n);
        if (!nn.empty()) renamed = true;
        else nn = n;
        TC_CHECK(taken.insert(nn).second, "'", path, "': tensor '", n, "' collides with another spelling of '", nn,
                 "' (mixed FILM key generations)");
        names.emplace_back(nn, n);
    }
    RenamedSource src(std::move(raw), std::move(names));
    const FilmConfig cfg = infer_config(src, path);
    auto film = std::make_unique<Film>(cfg);
    try {
        bind_weights(*film, src);
    } catch (const Error& e) {
        TC_FAIL("FILM weights '", path, "' do not match the film_net structure (filters ", cfg.filters, "): ",
                e.what());
    }
    film->key_generation = renamed ? "v1.0.0" : "v1.0.2";
    return film;
}

}  // namespace tc
