// Module: a node of the model tree that declares its parameters by name and shape, as torch.nn.Module
// does, so that the names joined with '.' are exactly the official state_dict keys. Declaring does
// not allocate: a model for the full 2.6 B-parameter checkpoint can be built just to list its keys,
// and the weight map (io/weight_map.h) binds each declared parameter to a tensor of a loaded file.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace tc {

struct Param {
    Shape shape;           // the shape the official model has
    Tensor value;          // bound by the weight map (undefined until then)
    bool used = true;      // false: in the checkpoint but never read by inference (kept for a strict map)
    bool buffer = false;   // a registered buffer rather than a parameter (schedule tables)
};

class Module {
public:
    Module() = default;
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    // Visits every parameter of this subtree in declaration order with its dotted name.
    void visit_params(const std::function<void(const std::string& name, Param& p)>& fn,
                      const std::string& prefix = "");
    void visit_params(const std::function<void(const std::string& name, const Param& p)>& fn,
                      const std::string& prefix = "") const;
    int64_t param_count() const;  // number of declared entries

protected:
    // Declares a parameter; the returned reference is stable for the module's lifetime.
    Param& param(const std::string& name, Shape shape, bool used = true);
    Param& buffer(const std::string& name, Shape shape, bool used = true);

    // Creates and owns a child module registered under `name`.
    template <typename M, typename... Args>
    M& child(const std::string& name, Args&&... args) {
        auto m = std::make_unique<M>(std::forward<Args>(args)...);
        M& ref = *m;
        children_.emplace_back(name, std::move(m));
        return ref;
    }

private:
    std::vector<std::pair<std::string, std::unique_ptr<Param>>> params_;
    std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// A module with no parameters of its own that only groups children under numeric names
// (torch.nn.Sequential / nn.ModuleList): children are addressed by index.
class ModuleList : public Module {
public:
    template <typename M, typename... Args>
    M& add(Args&&... args) {
        M& m = child<M>(std::to_string(items_.size()), std::forward<Args>(args)...);
        items_.push_back(&m);
        return m;
    }
    // Reserves an index without a module (e.g. a parameter-free nn.SiLU inside a Sequential).
    void skip() { items_.push_back(nullptr); }
    size_t size() const { return items_.size(); }
    template <typename M> M& at(size_t i) const {
        TC_CHECK(i < items_.size() && items_[i] != nullptr, "ModuleList: no module at index ", i);
        return *static_cast<M*>(items_[i]);
    }

private:
    std::vector<Module*> items_;
};

}  // namespace tc
