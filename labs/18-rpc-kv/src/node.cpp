// The coordinator: ABD's quorum write (ask the versions, then store the stamped write) and
// quorum read (ask, take the newest, write it back), a duplicate-request cache so that a
// retried PUT is answered rather than run again, and catch-up from the peers at start.
// Every call to the peers goes out in parallel, each on a thread of its own; the caller
// waits for the answers it needs and no longer than the peer timeout.
#include <algorithm>  // std::max_element
#include <thread>     // std::thread

#include "lab18/kv.hpp"

namespace ipclab::lab18 {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kDrcCapacity = 100'000;

/// The answers of calls made to every peer at once: answers[i] is peer i's, once it came.
/// Shared with the calling threads, which may outlive the wait (a peer that answers late).
template <typename R>
struct Calls {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<R>> answers;
  std::size_t finished = 0;  // answered or failed
};

/// Calls fn(connection, i) on every peer i in `which`, in parallel.
template <typename R, typename Fn>
std::shared_ptr<Calls<R>> ask(Node& node, const std::vector<std::size_t>& which, Fn fn) {
  auto calls = std::make_shared<Calls<R>>();
  calls->answers.resize(node.config().peers.size());
  calls->finished = node.config().peers.size() - which.size();
  for (std::size_t i : which) {
    std::thread([calls, &node, i, fn] {
      std::optional<R> answer;
      try {
        node.with_peer(i, [&](Connection& c) { answer = fn(c, i); });
      } catch (const std::exception&) {
        // no answer: the peer is down, hung or slow; it counts as not there
      }
      std::lock_guard lock(calls->mu);
      calls->answers[i] = std::move(answer);
      ++calls->finished;
      calls->cv.notify_all();
    }).detach();
  }
  return calls;
}

/// Waits until `enough(answers)` or every call finished or the deadline; returns the
/// answers so far.
template <typename R, typename Pred>
std::vector<std::optional<R>> wait(Calls<R>& calls, Clock::time_point deadline, Pred enough) {
  std::unique_lock lock(calls.mu);
  calls.cv.wait_until(lock, deadline, [&] {
    return calls.finished == calls.answers.size() || enough(calls.answers);
  });
  return calls.answers;
}

template <typename R>
std::size_t count(const std::vector<std::optional<R>>& v) {
  return static_cast<std::size_t>(
      std::count_if(v.begin(), v.end(), [](const auto& a) { return a.has_value(); }));
}

std::vector<std::size_t> every(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

PutReply Node::put(std::uint64_t client_id, std::uint64_t request_id, const std::string& key,
                   bool present, const std::string& value) {
  const auto id = std::make_pair(client_id, request_id);
  {
    // A request id seen before: its first reply, never a second execution.
    std::unique_lock lock(drc_mu_);
    if (auto it = drc_.find(id); it != drc_.end()) {
      drc_cv_.wait(lock, [&] {
        auto again = drc_.find(id);
        return again == drc_.end() || again->second.has_value();
      });
      if (auto done = drc_.find(id); done != drc_.end()) return *done->second;
    }
    drc_.emplace(id, std::nullopt);  // running: a retry waits for it
    drc_order_.push_back(id);
    while (drc_order_.size() > kDrcCapacity) {
      auto old = drc_.find(drc_order_.front());
      if (old != drc_.end() && !old->second.has_value()) break;  // still running
      if (old != drc_.end()) drc_.erase(old);
      drc_order_.pop_front();
    }
  }
  PutReply reply;
  try {
    reply = [&] {
      PutReply r;
      r.nodes = static_cast<unsigned>(nodes());
      const auto peers = every(cfg_.peers.size());
      // Phase 1: the highest version a majority knows of.
      const auto deadline = Clock::now() + cfg_.peer_timeout;
      auto versions = ask<Version>(
          *this, peers, [key](Connection& c, std::size_t) { return c.local_get(key).version; });
      Version high = store_.get(key).version;
      const auto seen =
          wait(*versions, deadline, [&](const auto& a) { return count(a) + 1 >= majority(); });
      for (const auto& v : seen)
        if (v && high < *v) high = *v;
      if (count(seen) + 1 < majority()) {
        r.acks = static_cast<unsigned>(count(seen) + 1);
        return r;  // KV_NO_QUORUM: nothing was written anywhere
      }
      // Phase 2: the write, stamped above everything phase 1 saw, on every replica.
      // Above everything phase 1 saw and everything this node stamped before: two clients
      // writing through this node at once see the same high, and must not both get
      // {high + 1, id} for two different values.
      std::uint64_t counter = 0;
      {
        std::lock_guard lock(stamp_mu_);
        last_counter_ = std::max(last_counter_, high.counter) + 1;
        counter = last_counter_;
      }
      const Entry e{key, Version{counter, cfg_.id}, present, value};
      auto acks =
          ask<Version>(*this, peers, [e](Connection& c, std::size_t) { return c.store(e).second; });
      const auto mine = store(e);
      const auto held =
          wait(*acks, Clock::now() + cfg_.peer_timeout, [](const auto&) { return false; });
      std::size_t n = mine.second >= e.version ? 1 : 0;
      for (const auto& v : held)
        if (v && *v >= e.version) ++n;
      r.acks = static_cast<unsigned>(n);
      r.version = e.version;
      if (n >= majority()) r.status = KV_OK;
      return r;
    }();
  } catch (...) {
    std::lock_guard lock(drc_mu_);
    drc_.erase(id);
    drc_cv_.notify_all();
    throw;
  }
  std::lock_guard lock(drc_mu_);
  if (reply.status == KV_OK)
    drc_[id] = reply;
  else
    drc_.erase(id);  // not done: a retry runs again
  drc_cv_.notify_all();
  return reply;
}

GetReply Node::get(const std::string& key) {
  GetReply r;
  r.nodes = static_cast<unsigned>(nodes());
  const auto deadline = Clock::now() + cfg_.peer_timeout;
  auto entries = ask<Entry>(*this, every(cfg_.peers.size()),
                            [key](Connection& c, std::size_t) { return c.local_get(key); });
  const Entry mine = store_.get(key);
  const auto seen =
      wait(*entries, deadline, [&](const auto& a) { return count(a) + 1 >= majority(); });
  r.acks = static_cast<unsigned>(count(seen) + 1);
  if (r.acks < majority()) return r;  // KV_NO_QUORUM
  // The newest entry of those that answered: at least one of them holds the last write
  // that was acknowledged (two majorities always share a node).
  Entry newest = mine;
  for (const auto& a : seen)
    if (a && newest.version < a->version) newest = *a;
  // Write it back to whoever answered with less, until a majority holds it: a later read,
  // whichever majority it asks, then sees it too (no new-old inversion between readers).
  std::size_t holders = mine.version >= newest.version ? 1 : 0;
  std::vector<std::size_t> behind;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) continue;
    if (seen[i]->version >= newest.version)
      ++holders;
    else
      behind.push_back(i);
  }
  // A majority answered, so fewer than a majority holding `newest` means someone behind.
  if (!behind.empty() || mine.version < newest.version) {
    auto back = ask<Version>(
        *this, behind, [newest](Connection& c, std::size_t) { return c.store(newest).second; });
    if (mine.version < newest.version) {
      store(newest);
      ++holders;
    }
    const std::size_t before = holders;
    const auto stored = wait(*back, Clock::now() + cfg_.peer_timeout, [&](const auto& a) {
      std::size_t n = before;
      for (const auto& v : a)
        if (v && *v >= newest.version) ++n;
      return n >= majority();
    });
    for (const auto& v : stored)
      if (v && *v >= newest.version) ++holders;
    if (holders < majority()) return r;  // KV_NO_QUORUM
  }
  r.status = KV_OK;
  r.entry = newest;
  r.entry.key = key;
  if (cache_ != nullptr) cache_->fill(r.entry, store_);
  return r;
}

Entry Node::local_get(const std::string& key) { return store_.get(key); }

std::pair<bool, Version> Node::store(const Entry& e) {
  const bool stored = store_.apply(e);
  if (cache_ != nullptr) cache_->invalidate(e.key);  // a write this node saw
  return {stored, store_.get(e.key).version};
}

std::vector<Entry> Node::pull() { return store_.all(); }

std::size_t Node::catch_up() {
  std::size_t answered = 0;
  for (const Address& peer : cfg_.peers) {
    try {
      Connection c(peer, cfg_.peer_timeout * 5);
      for (const Entry& e : c.pull()) store(e);
      ++answered;
    } catch (const NetworkError&) {
      // that peer is down: the others (or later reads' write-backs) bring us up to date
    }
  }
  return answered;
}

}  // namespace ipclab::lab18
