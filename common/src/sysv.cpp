#include "ipclab/sysv.hpp"

#include <sys/ipc.h>  // IPC_CREAT, IPC_EXCL, IPC_RMID
#include <sys/msg.h>  // msgget, msgsnd, msgrcv
#include <sys/shm.h>  // shmget, shmat

#include <cstring>  // std::memcpy
#include <vector>   // std::vector

#include "ipclab/error.hpp"  // throw_errno, check_unix

namespace ipclab {

// ---- message queues -------------------------------------------------------------------

SysvMsgQueue SysvMsgQueue::create(key_t key, int mode) {
  return SysvMsgQueue(check_unix(::msgget(key, IPC_CREAT | IPC_EXCL | mode),
                                 "msgget(0x{:x}, IPC_CREAT|IPC_EXCL)", static_cast<unsigned>(key)));
}

std::optional<SysvMsgQueue> SysvMsgQueue::open(key_t key) {
  const int id = ::msgget(key, 0);
  if (id >= 0) return SysvMsgQueue(id);
  if (errno == ENOENT) return std::nullopt;
  throw_errno("msgget(0x{:x})", static_cast<unsigned>(key));
}

bool SysvMsgQueue::send(long mtype, std::string_view data, bool nowait) {
  // struct msgbuf is { long mtype; char mtext[]; }: build it in one buffer.
  std::vector<char> buf(sizeof(long) + data.size());
  std::memcpy(buf.data(), &mtype, sizeof mtype);
  if (!data.empty()) std::memcpy(buf.data() + sizeof(long), data.data(), data.size());
  for (;;) {
    if (::msgsnd(id_, buf.data(), data.size(), nowait ? IPC_NOWAIT : 0) == 0) return true;
    if (errno == EAGAIN && nowait) return false;
    if (errno != EINTR) throw_errno("msgsnd(id {}, type {}, {} bytes)", id_, mtype, data.size());
  }
}

std::optional<std::pair<long, std::string>> SysvMsgQueue::receive(long mtype, std::size_t max_size,
                                                                  bool nowait) {
  std::vector<char> buf(sizeof(long) + max_size);
  for (;;) {
    const ssize_t n = ::msgrcv(id_, buf.data(), max_size, mtype, nowait ? IPC_NOWAIT : 0);
    if (n >= 0) {
      long type = 0;
      std::memcpy(&type, buf.data(), sizeof type);
      return std::pair{type, std::string(buf.data() + sizeof(long), static_cast<std::size_t>(n))};
    }
    if (errno == ENOMSG && nowait) return std::nullopt;
    if (errno != EINTR) throw_errno("msgrcv(id {}, type {})", id_, mtype);
  }
}

std::size_t SysvMsgQueue::count() const {
  msqid_ds ds{};
  check_unix(::msgctl(id_, IPC_STAT, &ds), "msgctl(id {}, IPC_STAT)", id_);
  return ds.msg_qnum;
}

bool SysvMsgQueue::remove() {
  if (::msgctl(id_, IPC_RMID, nullptr) == 0) return true;
  if (errno == EINVAL || errno == EIDRM) return false;
  throw_errno("msgctl(id {}, IPC_RMID)", id_);
}

// ---- semaphore sets -------------------------------------------------------------------

SysvSemSet SysvSemSet::create(key_t key, int nsems, int mode) {
  return SysvSemSet(check_unix(::semget(key, nsems, IPC_CREAT | IPC_EXCL | mode),
                               "semget(0x{:x}, {}, IPC_CREAT|IPC_EXCL)", static_cast<unsigned>(key),
                               nsems));
}

std::optional<SysvSemSet> SysvSemSet::open(key_t key) {
  const int id = ::semget(key, 0, 0);
  if (id >= 0) return SysvSemSet(id);
  if (errno == ENOENT) return std::nullopt;
  throw_errno("semget(0x{:x})", static_cast<unsigned>(key));
}

int SysvSemSet::get(int sem) const {
  return check_unix(::semctl(id_, sem, GETVAL), "semctl(id {}, {}, GETVAL)", id_, sem);
}

void SysvSemSet::set(int sem, int value) {
  // semctl's fourth argument is a union the caller defines (semctl(2)); an int only
  // happens to work where the union is passed like one.
  union semun {
    int val;
    semid_ds* buf;
    unsigned short* array;
  } arg{};
  arg.val = value;
  check_unix(::semctl(id_, sem, SETVAL, arg), "semctl(id {}, {}, SETVAL, {})", id_, sem, value);
}

void SysvSemSet::op(std::span<const struct sembuf> ops) {
  std::vector<struct sembuf> copy(ops.begin(), ops.end());
  if (retry_eintr(::semop, id_, copy.data(), copy.size()) < 0)
    throw_errno("semop(id {}, {} ops)", id_, copy.size());
}

bool SysvSemSet::remove() {
  if (::semctl(id_, 0, IPC_RMID) == 0) return true;
  if (errno == EINVAL || errno == EIDRM) return false;
  throw_errno("semctl(id {}, IPC_RMID)", id_);
}

// ---- shared-memory segments -----------------------------------------------------------

SysvShm SysvShm::create(key_t key, std::size_t size, int mode) {
  return SysvShm(check_unix(::shmget(key, size, IPC_CREAT | IPC_EXCL | mode),
                            "shmget(0x{:x}, {}, IPC_CREAT|IPC_EXCL)", static_cast<unsigned>(key),
                            size));
}

std::optional<SysvShm> SysvShm::open(key_t key) {
  const int id = ::shmget(key, 0, 0);
  if (id >= 0) return SysvShm(id);
  if (errno == ENOENT) return std::nullopt;
  throw_errno("shmget(0x{:x})", static_cast<unsigned>(key));
}

SysvShm& SysvShm::operator=(SysvShm&& o) noexcept {
  if (this != &o) {
    detach();
    id_ = o.id_;
    addr_ = std::exchange(o.addr_, nullptr);
  }
  return *this;
}

SysvShm::~SysvShm() { detach(); }

std::size_t SysvShm::size() const {
  shmid_ds ds{};
  check_unix(::shmctl(id_, IPC_STAT, &ds), "shmctl(id {}, IPC_STAT)", id_);
  return ds.shm_segsz;
}

void* SysvShm::attach(bool read_only) {
  if (addr_ != nullptr) return addr_;
  void* p = ::shmat(id_, nullptr, read_only ? SHM_RDONLY : 0);
  // shmat's error value is (void*)-1, not nullptr.
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  if (p == reinterpret_cast<void*>(-1)) throw_errno("shmat(id {})", id_);
  addr_ = p;
  return p;
}

void SysvShm::detach() {
  if (addr_ != nullptr) ::shmdt(addr_);
  addr_ = nullptr;
}

bool SysvShm::remove() {
  if (::shmctl(id_, IPC_RMID, nullptr) == 0) return true;
  if (errno == EINVAL || errno == EIDRM) return false;
  throw_errno("shmctl(id {}, IPC_RMID)", id_);
}

}  // namespace ipclab
