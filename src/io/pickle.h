// A restricted unpickler: it interprets the pickle opcodes that torch.save and TorchScript archives use
// (protocol 2, plus the protocol 3-5 opcodes that carry data) and builds a tree of plain values. It never
// imports or executes anything: a GLOBAL is only a name, and is refused unless the caller allows it;
// calling an allowed global (REDUCE / NEWOBJ) runs the caller's reducer, or, without one, records an inert
// Object {class, args} that a later BUILD can attach state to. Persistent ids (torch storages) go to a
// caller callback. Stack, memo, mark depth and the number of values are bounded, and the interpreter is a
// loop, not a recursion, so hostile input can neither crash it nor make it allocate without limit.
//
// Values live in an arena owned by the PickleDoc and point at each other with raw pointers: a pickle may
// legitimately build cycles (a list that contains itself), which reference counting would leak. Anything
// that walks the tree must bound its own depth (cycles are possible).
#pragma once

#include <any>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/mmap_file.h"

namespace tc::pickle {

struct Value {
    enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Object, Custom };
    Kind kind = Kind::None;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    std::string s;                                 // String, Bytes
    std::string module, name;                       // Global; Object: its class
    std::vector<Value*> items;                      // Tuple, List
    Value* args = nullptr;                          // Object: the constructor's argument tuple (shared, not copied)
    std::vector<std::pair<Value*, Value*>> entries;  // Dict, in insertion order (a repeated key appears twice)
    Value* state = nullptr;                         // BUILD state (Object, or a Dict subclass' __dict__)
    std::any custom;                                // Custom: whatever a reducer / persistent_load made
    std::string custom_type;                        // Custom: a label for messages

    bool is_str() const { return kind == Kind::String; }
    bool is_int() const { return kind == Kind::Int; }
    bool is_seq() const { return kind == Kind::Tuple || kind == Kind::List; }
    // Dict lookup by string key (the last occurrence wins, as in Python); nullptr when absent or not a dict.
    const Value* get(const std::string& key) const;
    std::string qualname() const { return module + "." + name; }  // Global / Object
};

const char* kind_name(Value::Kind k);
// A short description for error messages (depth-bounded: cycles are fine).
std::string describe(const Value* v, int max_depth = 2);

class PickleDoc;

// Evaluates `callable(*args)` for an allowed global. Return a value made with doc.make(); throw tc::Error
// to refuse the arguments.
using Reducer = std::function<Value*(PickleDoc& doc, const Value& callable, const Value& args)>;

struct PickleOptions {
    // Allowed globals by "module.name". A null Reducer allows the name but records calls as inert Objects.
    std::map<std::string, Reducer> globals;
    // Optional extra policy consulted for names not in `globals` (e.g. allow every "__torch__." class of a
    // TorchScript archive). Return true to allow with `*reducer` set (or left null for inert Objects).
    std::function<bool(const std::string& module, const std::string& name, Reducer* reducer)> allow_global;
    // BINPERSID handler; without one, persistent ids are an error.
    std::function<Value*(PickleDoc& doc, const Value& pid)> persistent_load;

    size_t max_values = 1u << 20;   // values created in total
    size_t max_stack = 1u << 20;    // entries on the value stack
    size_t max_marks = 1u << 12;    // nesting of MARKs
    size_t max_memo = 1u << 20;     // memo entries
    std::string label = "pickle";   // names the input in error messages
};

class PickleDoc {
public:
    PickleDoc() = default;
    PickleDoc(const PickleDoc&) = delete;
    PickleDoc& operator=(const PickleDoc&) = delete;
    PickleDoc(PickleDoc&&) = default;
    PickleDoc& operator=(PickleDoc&&) = default;

    Value* root() const { return root_; }
    // Creates a value owned by this document (counted against max_values while unpickling).
    Value* make(Value::Kind kind);
    size_t size() const { return arena_.size(); }

private:
    friend PickleDoc unpickle(ByteSpan data, const PickleOptions& opts);
    std::deque<Value> arena_;
    size_t max_values_ = SIZE_MAX;
    Value* root_ = nullptr;
};

// Runs the pickle program in `data` up to STOP and returns the document holding its result.
// Throws tc::Error (naming opts.label, the opcode and its offset) on anything malformed or not allowed,
// e.g. "pickle references forbidden global 'os.system'".
PickleDoc unpickle(ByteSpan data, const PickleOptions& opts = {});

}  // namespace tc::pickle
