// The restricted unpickler. Opcode semantics follow CPython's Lib/pickle.py (_Unpickler.load_*) and the
// opcode table of Lib/pickletools.py; only the opcodes that carry data are implemented (no PUT/GET text
// forms, no INST/OBJ, no EXT registry, no sets), which covers torch.save (protocol 2) and TorchScript
// archives. A stack frame is the part of the value stack above the innermost MARK, as in the C unpickler.
#include "io/pickle.h"

#include <cstring>
#include <sstream>
#include <unordered_map>

#include "core/error.h"

namespace tc::pickle {

const char* kind_name(Value::Kind k) {
    switch (k) {
        case Value::Kind::None: return "None";
        case Value::Kind::Bool: return "bool";
        case Value::Kind::Int: return "int";
        case Value::Kind::Float: return "float";
        case Value::Kind::String: return "str";
        case Value::Kind::Bytes: return "bytes";
        case Value::Kind::Tuple: return "tuple";
        case Value::Kind::List: return "list";
        case Value::Kind::Dict: return "dict";
        case Value::Kind::Global: return "global";
        case Value::Kind::Object: return "object";
        case Value::Kind::Custom: return "custom";
    }
    return "?";
}

const Value* Value::get(const std::string& key) const {
    if (kind != Kind::Dict) return nullptr;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
        if (it->first->kind == Kind::String && it->first->s == key) return it->second;
    return nullptr;
}

std::string describe(const Value* v, int max_depth) {
    if (!v) return "null";
    std::ostringstream os;
    switch (v->kind) {
        case Value::Kind::None: return "None";
        case Value::Kind::Bool: return v->b ? "True" : "False";
        case Value::Kind::Int: return std::to_string(v->i);
        case Value::Kind::Float: os << v->f; return os.str();
        case Value::Kind::String:
            return "'" + (v->s.size() > 64 ? v->s.substr(0, 64) + "..." : v->s) + "'";
        case Value::Kind::Bytes: return "bytes(" + std::to_string(v->s.size()) + ")";
        case Value::Kind::Global: return "global " + v->qualname();
        case Value::Kind::Object: return "object " + v->qualname();
        case Value::Kind::Custom: return v->custom_type.empty() ? "custom" : v->custom_type;
        case Value::Kind::Tuple:
        case Value::Kind::List: {
            bool t = v->kind == Value::Kind::Tuple;
            if (max_depth <= 0) return std::string(t ? "tuple" : "list") + "(" + std::to_string(v->items.size()) + ")";
            os << (t ? "(" : "[");
            for (size_t i = 0; i < v->items.size() && i < 8; ++i)
                os << (i ? ", " : "") << describe(v->items[i], max_depth - 1);
            if (v->items.size() > 8) os << ", ...";
            os << (t ? ")" : "]");
            return os.str();
        }
        case Value::Kind::Dict: return "dict(" + std::to_string(v->entries.size()) + ")";
    }
    return "?";
}

Value* PickleDoc::make(Value::Kind kind) {
    TC_CHECK(arena_.size() < max_values_, "pickle creates more than ", max_values_, " values");
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
}

namespace {

const char* opcode_name(uint8_t op) {
    switch (op) {
        case 0x80: return "PROTO";
        case 0x95: return "FRAME";
        case '.': return "STOP";
        case '(': return "MARK";
        case '0': return "POP";
        case '1': return "POP_MARK";
        case '2': return "DUP";
        case 'N': return "NONE";
        case 0x88: return "NEWTRUE";
        case 0x89: return "NEWFALSE";
        case 'J': return "BININT";
        case 'K': return "BININT1";
        case 'M': return "BININT2";
        case 0x8a: return "LONG1";
        case 0x8b: return "LONG4";
        case 'G': return "BINFLOAT";
        case 'X': return "BINUNICODE";
        case 0x8c: return "SHORT_BINUNICODE";
        case 0x8d: return "BINUNICODE8";
        case 'T': return "BINSTRING";
        case 'U': return "SHORT_BINSTRING";
        case 'B': return "BINBYTES";
        case 'C': return "SHORT_BINBYTES";
        case 0x8e: return "BINBYTES8";
        case 0x96: return "BYTEARRAY8";
        case ')': return "EMPTY_TUPLE";
        case 't': return "TUPLE";
        case 0x85: return "TUPLE1";
        case 0x86: return "TUPLE2";
        case 0x87: return "TUPLE3";
        case ']': return "EMPTY_LIST";
        case 'l': return "LIST";
        case 'a': return "APPEND";
        case 'e': return "APPENDS";
        case '}': return "EMPTY_DICT";
        case 'd': return "DICT";
        case 's': return "SETITEM";
        case 'u': return "SETITEMS";
        case 'c': return "GLOBAL";
        case 0x93: return "STACK_GLOBAL";
        case 'R': return "REDUCE";
        case 0x81: return "NEWOBJ";
        case 'b': return "BUILD";
        case 'Q': return "BINPERSID";
        case 'q': return "BINPUT";
        case 'r': return "LONG_BINPUT";
        case 0x94: return "MEMOIZE";
        case 'h': return "BINGET";
        case 'j': return "LONG_BINGET";
    }
    return nullptr;
}

class Machine {
public:
    Machine(ByteSpan data, const PickleOptions& o, PickleDoc& doc) : d_(data), o_(o), doc_(doc) {}

    Value* run() {
        for (;;) {
            TC_CHECK(pos_ < d_.size(), o_.label, ": pickle data ends without STOP (truncated?)");
            op_pos_ = pos_;
            op_ = d_[pos_++];
            try {
                if (step()) return result_;
            } catch (const Error& e) {
                const char* n = opcode_name(op_);
                std::ostringstream os;
                os << o_.label << ": " << e.what() << " (opcode ";
                if (n) os << n; else os << "0x" << std::hex << int(op_) << std::dec;
                os << " at offset " << op_pos_ << ")";
                throw Error(os.str());
            }
        }
    }

private:
    // --- input
    const uint8_t* take(uint64_t n) {
        TC_CHECK(n <= d_.size() - pos_, "argument of ", n, " bytes runs past the end of the data (truncated?)");
        const uint8_t* p = d_.data() + pos_;
        pos_ += size_t(n);
        return p;
    }
    uint64_t le(int n) {
        const uint8_t* p = take(n);
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
        return v;
    }
    std::string line() {  // the text argument of GLOBAL, up to '\n'
        const uint8_t* start = d_.data() + pos_;
        const void* nl = std::memchr(start, '\n', d_.size() - pos_);
        TC_CHECK(nl, "unterminated text argument");
        size_t n = size_t(static_cast<const uint8_t*>(nl) - start);
        TC_CHECK(n <= 4096, "text argument too long");
        pos_ += n + 1;
        return std::string(reinterpret_cast<const char*>(start), n);
    }

    // --- stack
    size_t frame_base() const { return marks_.empty() ? 0 : marks_.back(); }
    void push(Value* v) {
        TC_CHECK(stack_.size() < o_.max_stack, "stack exceeds ", o_.max_stack, " entries");
        stack_.push_back(v);
    }
    Value* pop() {
        TC_CHECK(stack_.size() > frame_base(), "stack underflow");
        Value* v = stack_.back();
        stack_.pop_back();
        return v;
    }
    Value* top() const {
        TC_CHECK(stack_.size() > frame_base(), "stack underflow");
        return stack_.back();
    }
    std::vector<Value*> pop_mark() {
        TC_CHECK(!marks_.empty(), "no MARK on the stack");
        size_t base = marks_.back();
        marks_.pop_back();
        std::vector<Value*> items(stack_.begin() + ptrdiff_t(base), stack_.end());
        stack_.resize(base);
        return items;
    }

    // --- values
    Value* make(Value::Kind k) { return doc_.make(k); }
    Value* make_int(int64_t i) {
        Value* v = make(Value::Kind::Int);
        v->i = i;
        return v;
    }
    Value* make_str(Value::Kind k, uint64_t n) {
        const uint8_t* p = take(n);
        Value* v = make(k);
        v->s.assign(reinterpret_cast<const char*>(p), size_t(n));
        return v;
    }
    Value* make_seq(Value::Kind k, std::vector<Value*> items) {
        Value* v = make(k);
        v->items = std::move(items);
        return v;
    }
    void set_items(Value* dict, const std::vector<Value*>& kv) {
        TC_CHECK(dict->kind == Value::Kind::Dict, "setting items on a ", kind_name(dict->kind), ", not a dict");
        TC_CHECK(kv.size() % 2 == 0, "odd number of items for a dict");
        for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
    void push_global(const std::string& module, const std::string& name) {
        std::string q = module + "." + name;
        bool ok = o_.globals.count(q) != 0;
        if (!ok && o_.allow_global) {
            Reducer r;
            ok = o_.allow_global(module, name, &r);
        }
        TC_CHECK(ok, "pickle references forbidden global '", q, "'");
        Value* v = make(Value::Kind::Global);
        v->module = module;
        v->name = name;
        push(v);
    }
    // callable(*args) for an allowed global: its reducer, or an inert Object.
    Value* call(Value* callable, Value* args) {
        TC_CHECK(callable->kind == Value::Kind::Global, "only allowed globals can be called, not a ",
                 kind_name(callable->kind), " (", describe(callable, 1), ")");
        TC_CHECK(args->kind == Value::Kind::Tuple, "call arguments are a ", kind_name(args->kind), ", not a tuple");
        Reducer r;
        auto it = o_.globals.find(callable->qualname());
        if (it != o_.globals.end()) r = it->second;
        else if (o_.allow_global) o_.allow_global(callable->module, callable->name, &r);
        if (r) {
            Value* v = r(doc_, *callable, *args);
            TC_CHECK(v != nullptr, "the handler of ", callable->qualname(), " returned nothing");
            return v;
        }
        // The argument tuple is referenced, not copied: a memoised tuple passed to many calls must not
        // multiply memory (every container slot then costs at least one input byte).
        Value* v = make(Value::Kind::Object);
        v->module = callable->module;
        v->name = callable->name;
        v->args = args;
        return v;
    }
    void memo_put(uint64_t idx) {
        Value* v = top();
        auto it = memo_.find(idx);
        if (it != memo_.end()) {
            it->second = v;
            return;
        }
        TC_CHECK(memo_.size() < o_.max_memo, "memo exceeds ", o_.max_memo, " entries");
        memo_.emplace(idx, v);
    }
    void memo_get(uint64_t idx) {
        auto it = memo_.find(idx);
        TC_CHECK(it != memo_.end(), "memo key ", idx, " was never stored");
        push(it->second);
    }

    // Executes one opcode; returns true at STOP.
    bool step() {
        using K = Value::Kind;
        switch (op_) {
            case 0x80: {  // PROTO
                uint64_t v = le(1);
                TC_CHECK(v <= 5, "unsupported pickle protocol ", v);
                return false;
            }
            case 0x95: take(8); return false;  // FRAME: a length hint only
            case '.':                           // STOP
                result_ = pop();
                return true;
            case '(':
                TC_CHECK(marks_.size() < o_.max_marks, "MARKs nested deeper than ", o_.max_marks);
                marks_.push_back(stack_.size());
                return false;
            case '0':
                if (stack_.size() > frame_base()) stack_.pop_back();
                else pop_mark();
                return false;
            case '1': pop_mark(); return false;
            case '2': push(top()); return false;
            case 'N': push(make(K::None)); return false;
            case 0x88:
            case 0x89: {
                Value* v = make(K::Bool);
                v->b = op_ == 0x88;
                push(v);
                return false;
            }
            case 'J': push(make_int(int32_t(uint32_t(le(4))))); return false;
            case 'K': push(make_int(int64_t(le(1)))); return false;
            case 'M': push(make_int(int64_t(le(2)))); return false;
            case 0x8a:
            case 0x8b: {  // LONG1 / LONG4: little-endian two's complement of n bytes
                int64_t n = op_ == 0x8a ? int64_t(le(1)) : int64_t(int32_t(uint32_t(le(4))));
                TC_CHECK(n >= 0 && n <= 8, "integer of ", n, " bytes is out of range (at most 8)");
                const uint8_t* p = take(uint64_t(n));
                uint64_t u = 0;
                for (int64_t i = n - 1; i >= 0; --i) u = (u << 8) | p[i];
                if (n > 0 && n < 8 && (p[n - 1] & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign-extend
                push(make_int(int64_t(u)));
                return false;
            }
            case 'G': {  // BINFLOAT: big-endian IEEE double
                const uint8_t* p = take(8);
                uint64_t u = 0;
                for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
                Value* v = make(K::Float);
                std::memcpy(&v->f, &u, 8);
                push(v);
                return false;
            }
            case 'X': push(make_str(K::String, le(4))); return false;
            case 0x8c: push(make_str(K::String, le(1))); return false;
            case 0x8d: push(make_str(K::String, le(8))); return false;
            case 'T': {
                int64_t n = int32_t(uint32_t(le(4)));
                TC_CHECK(n >= 0, "negative string length");
                push(make_str(K::String, uint64_t(n)));
                return false;
            }
            case 'U': push(make_str(K::String, le(1))); return false;
            case 'B': push(make_str(K::Bytes, le(4))); return false;
            case 'C': push(make_str(K::Bytes, le(1))); return false;
            case 0x8e:
            case 0x96: push(make_str(K::Bytes, le(8))); return false;
            case ')': push(make_seq(K::Tuple, {})); return false;
            case 't': push(make_seq(K::Tuple, pop_mark())); return false;
            case 0x85:
            case 0x86:
            case 0x87: {
                size_t n = size_t(op_ - 0x84);
                std::vector<Value*> items(n);
                for (size_t i = n; i-- > 0;) items[i] = pop();
                push(make_seq(K::Tuple, std::move(items)));
                return false;
            }
            case ']': push(make_seq(K::List, {})); return false;
            case 'l': push(make_seq(K::List, pop_mark())); return false;
            case 'a': {
                Value* item = pop();
                Value* list = top();
                TC_CHECK(list->kind == K::List, "APPEND to a ", kind_name(list->kind), ", not a list");
                list->items.push_back(item);
                return false;
            }
            case 'e': {
                std::vector<Value*> items = pop_mark();
                Value* list = top();
                TC_CHECK(list->kind == K::List, "APPENDS to a ", kind_name(list->kind), ", not a list");
                list->items.insert(list->items.end(), items.begin(), items.end());
                return false;
            }
            case '}': push(make(K::Dict)); return false;
            case 'd': {
                std::vector<Value*> kv = pop_mark();
                Value* v = make(K::Dict);
                set_items(v, kv);
                push(v);
                return false;
            }
            case 's': {
                Value* val = pop();
                Value* key = pop();
                set_items(top(), {key, val});
                return false;
            }
            case 'u': {
                std::vector<Value*> kv = pop_mark();
                set_items(top(), kv);
                return false;
            }
            case 'c': {
                std::string module = line();
                std::string name = line();
                push_global(module, name);
                return false;
            }
            case 0x93: {
                Value* name = pop();
                Value* module = pop();
                TC_CHECK(name->is_str() && module->is_str(), "STACK_GLOBAL needs two strings");
                push_global(module->s, name->s);
                return false;
            }
            case 'R':
            case 0x81: {  // REDUCE: callable(*args); NEWOBJ: cls.__new__(cls, *args): both inert here
                Value* args = pop();
                Value* callable = pop();
                push(call(callable, args));
                return false;
            }
            case 'b': {
                Value* state = pop();
                Value* inst = top();
                TC_CHECK(inst->kind == K::Object || inst->kind == K::Dict, "BUILD on a ", kind_name(inst->kind),
                         " (only objects and dicts take state)");
                inst->state = state;
                return false;
            }
            case 'Q': {
                Value* pid = pop();
                TC_CHECK(o_.persistent_load, "persistent ids are not allowed here");
                Value* v = o_.persistent_load(doc_, *pid);
                TC_CHECK(v != nullptr, "persistent id ", describe(pid), " could not be resolved");
                push(v);
                return false;
            }
            case 'q': memo_put(le(1)); return false;
            case 'r': memo_put(le(4)); return false;
            case 0x94: memo_put(memo_.size()); return false;
            case 'h': memo_get(le(1)); return false;
            case 'j': memo_get(le(4)); return false;
            default: TC_FAIL("unsupported pickle opcode");
        }
    }

    ByteSpan d_;
    const PickleOptions& o_;
    PickleDoc& doc_;
    size_t pos_ = 0, op_pos_ = 0;
    uint8_t op_ = 0;
    std::vector<Value*> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, Value*> memo_;
    Value* result_ = nullptr;
};

}  // namespace

PickleDoc unpickle(ByteSpan data, const PickleOptions& opts) {
    PickleDoc doc;
    doc.max_values_ = opts.max_values;
    Machine m(data, opts, doc);
    doc.root_ = m.run();
    doc.max_values_ = SIZE_MAX;  // callers may add values after loading
    return doc;
}

}  // namespace tc::pickle
