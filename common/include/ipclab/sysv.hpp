// System V IPC: message queues, semaphore sets, shared-memory segments. Keys come from
// names::sysv_key(). Objects persist until IPC_RMID: the owner of the object calls
// remove(); the destructors only detach.
#pragma once

#include <sys/sem.h>    // struct sembuf
#include <sys/types.h>  // key_t

#include <cstddef>      // std::size_t
#include <optional>     // std::optional
#include <span>         // std::span
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::exchange
#include <vector>       // std::vector

namespace ipclab {

/// A SysV message queue. Messages are an mtype (> 0) plus bytes.
class SysvMsgQueue {
 public:
  /// msgget(key, IPC_CREAT|IPC_EXCL|mode).
  static SysvMsgQueue create(key_t key, int mode = 0600);
  /// msgget(key, 0); nullopt if no queue has this key.
  static std::optional<SysvMsgQueue> open(key_t key);
  explicit SysvMsgQueue(int id) : id_(id) {}

  int id() const { return id_; }
  /// msgsnd, retrying EINTR. nowait: IPC_NOWAIT, returns false if the queue is full.
  bool send(long mtype, std::string_view data, bool nowait = false);
  /// msgrcv of type `mtype` (0 = any, < 0 = lowest type <= |mtype|). nowait: nullopt when
  /// none. The returned pair is {mtype, data}. Throws SysError(EIDRM) if the queue is removed.
  std::optional<std::pair<long, std::string>> receive(long mtype, std::size_t max_size,
                                                      bool nowait = false);
  /// Messages currently queued (msg_qnum).
  std::size_t count() const;
  /// IPC_RMID; returns false if already gone.
  bool remove();

 private:
  int id_ = -1;
};

/// A SysV semaphore set.
class SysvSemSet {
 public:
  static SysvSemSet create(key_t key, int nsems, int mode = 0600);
  static std::optional<SysvSemSet> open(key_t key);
  explicit SysvSemSet(int id) : id_(id) {}

  int id() const { return id_; }
  int get(int sem) const;
  void set(int sem, int value);
  /// semop on several operations at once (all or none), retrying EINTR.
  void op(std::span<const struct sembuf> ops);
  bool remove();

 private:
  int id_ = -1;
};

/// A SysV shared-memory segment and (optionally) this process's attachment.
class SysvShm {
 public:
  static SysvShm create(key_t key, std::size_t size, int mode = 0600);
  static std::optional<SysvShm> open(key_t key);
  explicit SysvShm(int id) : id_(id) {}
  SysvShm(SysvShm&& o) noexcept : id_(o.id_), addr_(std::exchange(o.addr_, nullptr)) {}
  SysvShm& operator=(SysvShm&& o) noexcept;
  SysvShm(const SysvShm&) = delete;
  SysvShm& operator=(const SysvShm&) = delete;
  ~SysvShm();

  int id() const { return id_; }
  std::size_t size() const;
  /// shmat (once; later calls return the same address).
  void* attach(bool read_only = false);
  void detach();
  bool remove();

 private:
  int id_ = -1;
  void* addr_ = nullptr;
};

}  // namespace ipclab
