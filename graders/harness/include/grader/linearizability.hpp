// A per-key linearizability checker for histories of a key-value store (Wing and Gong's
// search, with Lowe's memoization of visited states): the graders record every operation's
// call and return time, then ask whether some order of the operations, one key at a time,
// is a legal register history that respects real time (an operation that returned before
// another was called comes first). Fine for a few hundred operations per key.
//
//   std::vector<grader::KvOp> history;               // filled by the test's clients
//   const auto verdict = grader::check_linearizable(history);
//   EXPECT_TRUE(verdict.ok) << verdict.explanation;
//
// A write whose outcome is unknown (its client saw no answer: the node died mid-call) is
// recorded with completed = false: it may take effect at any time after its call, or never.
// A read without an answer says nothing and is left out of the history.
#pragma once

#include <optional>  // std::optional
#include <string>    // std::string
#include <vector>    // std::vector

namespace grader {

struct KvOp {
  enum class Kind { kWrite, kRead };
  int client = 0;
  Kind kind = Kind::kRead;
  std::string key;
  /// A write's value, or what a read returned; nullopt: deleted / not found.
  std::optional<std::string> value;
  double call = 0;  ///< seconds, any one clock for the whole history
  double ret = 0;   ///< ignored when !completed
  bool completed = true;
};

struct Linearizability {
  bool ok = true;
  /// When !ok: the first key with no legal order, and its operations as recorded.
  std::string key;
  std::string explanation;
};

/// Checks each key's operations on their own (a key is a register that starts at
/// `initial`, nullopt = absent). Reads without completed = true are ignored.
Linearizability check_linearizable(const std::vector<KvOp>& history,
                                   const std::optional<std::string>& initial = std::nullopt);

}  // namespace grader
