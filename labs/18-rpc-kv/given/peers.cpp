// Given: a node's connections to its peers. One call to a peer takes an idle pooled
// connection (or makes one), gives it back after a success and destroys it after a failure;
// a reused connection that fails is replaced once (the peer may have restarted since it
// was made). A peer that does not answer holds its callers until their timeout: beyond
// kMaxInFlight of them the peer counts as down at once, so a hung peer cannot pile up
// threads.
#include "lab18/kv.hpp"

namespace ipclab::lab18 {

Node::Node(NodeConfig cfg, Store& store, ReadCache* cache)
    : cfg_(std::move(cfg)),
      store_(store),
      cache_(cache),
      pool_(cfg_.peers.size()),
      in_flight_(cfg_.peers.size(), 0) {}

Node::~Node() = default;

void Node::with_peer(std::size_t i, const std::function<void(Connection&)>& call) {
  {
    std::lock_guard lock(pool_mu_);
    if (in_flight_[i] >= kMaxInFlight)
      throw NetworkError(cfg_.peers[i].str() + ": too many calls waiting for it");
    ++in_flight_[i];
  }
  struct Done {
    Node& n;
    std::size_t i;
    ~Done() {
      std::lock_guard lock(n.pool_mu_);
      --n.in_flight_[i];
    }
  } done{*this, i};
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> c;
    {
      std::lock_guard lock(pool_mu_);
      if (!pool_[i].empty() && attempt == 0) {
        c = std::move(pool_[i].back());
        pool_[i].pop_back();
      }
    }
    const bool reused = c != nullptr;
    if (!reused) c = std::make_unique<Connection>(cfg_.peers[i], cfg_.peer_timeout);
    try {
      call(*c);
    } catch (const NetworkError&) {
      if (reused) continue;  // the peer may have restarted since: once more, on a new one
      throw;
    }
    std::lock_guard lock(pool_mu_);
    pool_[i].push_back(std::move(c));
    return;
  }
}

}  // namespace ipclab::lab18
