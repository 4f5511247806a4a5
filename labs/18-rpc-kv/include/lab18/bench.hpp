// kv_client bench (given/bench.cpp): starts clusters of 1 and 3 kv_server (the binary next
// to kv_client) on free loopback ports, measures sequential put, get and cached get from
// one client, prints a table, stops the servers. Returns the exit code.
#pragma once

#include <chrono>   // std::chrono::milliseconds
#include <cstdint>  // std::uint64_t

namespace ipclab::lab18 {

int run_bench(std::uint64_t ops, std::chrono::milliseconds timeout);

}  // namespace ipclab::lab18
