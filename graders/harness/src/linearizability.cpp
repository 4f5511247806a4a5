// Wing and Gong's search for a linearization, key by key, with the states already tried
// remembered (Lowe, "Testing for linearizability", 2017): a state is the set of operations
// linearized so far and the register's value; from one, any operation can come next that
// was called before every remaining operation's return.
#include "grader/linearizability.hpp"

#include <algorithm>      // std::sort
#include <cstdint>        // std::uint64_t
#include <limits>         // std::numeric_limits
#include <map>            // std::map
#include <unordered_set>  // std::unordered_set

#include <fmt/core.h>  // fmt::format

namespace grader {
namespace {

std::string show(const std::optional<std::string>& v) {
  return v ? fmt::format("\"{}\"", *v) : std::string("(none)");
}

class Search {
 public:
  Search(std::vector<KvOp> ops, std::optional<std::string> initial)
      : ops_(std::move(ops)), done_(ops_.size(), false), initial_(std::move(initial)) {
    for (const auto& o : ops_) required_ += o.completed ? 1 : 0;
  }

  bool run() { return step(initial_, 0); }

 private:
  static double ret_of(const KvOp& o) {
    return o.completed ? o.ret : std::numeric_limits<double>::infinity();
  }

  std::string state_key(const std::optional<std::string>& value) const {
    std::string k;
    std::uint64_t word = 0;
    for (std::size_t i = 0; i < done_.size(); ++i) {
      if (done_[i]) word |= std::uint64_t{1} << (i % 64);
      if (i % 64 == 63 || i + 1 == done_.size()) {
        k.append(reinterpret_cast<const char*>(&word), sizeof word);
        word = 0;
      }
    }
    k += value ? "=" + *value : std::string("#");
    return k;
  }

  bool step(const std::optional<std::string>& value, std::size_t completed_done) {
    if (completed_done == required_) return true;  // unknown writes may never happen
    if (!seen_.insert(state_key(value)).second) return false;
    double min_ret = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < ops_.size(); ++i)
      if (!done_[i] && ret_of(ops_[i]) < min_ret) min_ret = ret_of(ops_[i]);
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const KvOp& o = ops_[i];
      if (done_[i] || o.call > min_ret) continue;
      if (o.kind == KvOp::Kind::kRead && o.value != value) continue;
      done_[i] = true;
      const bool ok = step(o.kind == KvOp::Kind::kWrite ? o.value : value,
                           completed_done + (o.completed ? 1 : 0));
      done_[i] = false;
      if (ok) return true;
    }
    return false;
  }

  std::vector<KvOp> ops_;
  std::vector<bool> done_;
  std::optional<std::string> initial_;
  std::size_t required_ = 0;
  std::unordered_set<std::string> seen_;
};

}  // namespace

Linearizability check_linearizable(const std::vector<KvOp>& history,
                                   const std::optional<std::string>& initial) {
  std::map<std::string, std::vector<KvOp>> by_key;
  for (const auto& o : history)
    if (o.completed || o.kind == KvOp::Kind::kWrite) by_key[o.key].push_back(o);
  for (auto& [key, ops] : by_key) {
    std::sort(ops.begin(), ops.end(), [](const KvOp& a, const KvOp& b) { return a.call < b.call; });
    if (Search(ops, initial).run()) continue;
    Linearizability r;
    r.ok = false;
    r.key = key;
    r.explanation = fmt::format(
        "key \"{}\": no order of its {} operations is a legal register history that respects "
        "real time (a read returned a value it could not have seen). Its operations, by call "
        "time (seconds):\n",
        key, ops.size());
    std::size_t shown = 0;
    for (const auto& o : ops) {
      if (++shown > 200) {
        r.explanation += fmt::format("  ... {} more\n", ops.size() - 200);
        break;
      }
      r.explanation +=
          fmt::format("  client {:>2} {:<5} {:<24} [{:.6f}, {}]\n", o.client,
                      o.kind == KvOp::Kind::kWrite ? "write" : "read", show(o.value), o.call,
                      o.completed ? fmt::format("{:.6f}", o.ret) : std::string("no answer"));
    }
    return r;
  }
  return {};
}

}  // namespace grader
