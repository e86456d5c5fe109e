// Parameter declaration and traversal for the model tree.
#include "core/module.h"

namespace tc {

Param& Module::param(const std::string& name, Shape shape, bool used) {
    for (auto& [n, p] : params_) TC_CHECK(n != name, "parameter '", name, "' declared twice");
    auto p = std::make_unique<Param>();
    p->shape = std::move(shape);
    p->used = used;
    Param& ref = *p;
    params_.emplace_back(name, std::move(p));
    return ref;
}

Param& Module::buffer(const std::string& name, Shape shape, bool used) {
    Param& p = param(name, std::move(shape), used);
    p.buffer = true;
    return p;
}

void Module::visit_params(const std::function<void(const std::string&, Param&)>& fn, const std::string& prefix) {
    for (auto& [n, p] : params_) fn(prefix + n, *p);
    for (auto& [n, c] : children_) c->visit_params(fn, prefix + n + ".");
}

void Module::visit_params(const std::function<void(const std::string&, const Param&)>& fn,
                          const std::string& prefix) const {
    for (const auto& [n, p] : params_) fn(prefix + n, *p);
    for (const auto& [n, c] : children_) static_cast<const Module&>(*c).visit_params(fn, prefix + n + ".");
}

int64_t Module::param_count() const {
    int64_t n = 0;
    visit_params([&](const std::string&, const Param&) { ++n; });
    return n;
}

}  // namespace tc
