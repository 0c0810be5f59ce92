// urgent/chan.h: Go's channels. Chan<T> is a copyable handle to a shared channel, like a Go
// `chan T`; a null handle (Chan<T>(nullptr)) is Go's nil channel.
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace urgent {
namespace detail {

struct Hchan;

// How the type-erased runtime moves and destroys elements.
struct ElemType {
  std::size_t size;
  std::size_t align;
  void (*move_construct)(void* dst, void* src);  // dst: raw storage; src stays (moved-from)
  void (*destroy)(void* p);
};

template <class T>
inline constexpr ElemType kElemType{
    sizeof(T), alignof(T), [](void* d, void* s) { ::new (d) T(std::move(*static_cast<T*>(s))); },
    [](void* p) { static_cast<T*>(p)->~T(); }};

Hchan* makechan(const ElemType* t, std::size_t cap);
// make(chan T, cap) with a signed cap: negative panics as in Go ("makechan: size out of range").
Hchan* makechan_signed(const ElemType* t, long long cap);
void chanref(Hchan* c);
void chanunref(Hchan* c);
// Blocking send: moves *elem into the channel. Throws Panic on a closed channel; blocks
// forever on a nil one.
void chansend(Hchan* c, void* elem);
// Non-blocking send: false if it would block (then *elem is untouched).
bool chansend_nb(Hchan* c, void* elem);
// Blocking receive into raw storage *out: true with a value constructed there; false if the
// channel is closed and drained (nothing constructed).
bool chanrecv(Hchan* c, void* out);
// Non-blocking receive: 1 value received, 0 would block, -1 closed and drained.
int chanrecv_nb(Hchan* c, void* out);
void closechan(Hchan* c);
std::size_t chanlen(Hchan* c);
std::size_t chancap(Hchan* c);

// Raw storage for one T, where a receive constructs the value.
template <class T>
struct Slot {
  alignas(T) unsigned char bytes[sizeof(T)];
  T* get() { return std::launder(reinterpret_cast<T*>(bytes)); }
  // Moves the value out into an optional and destroys it here.
  std::optional<T> take() {
    std::optional<T> v(std::move(*get()));
    get()->~T();
    return v;
  }
};

}  // namespace detail

template <class T>
class Chan {
  static_assert(std::is_move_constructible_v<T>, "channel elements must be movable");
  // The runtime moves and destroys elements while it holds the channel's lock (straight
  // from the sender's stack to the receiver's): an exception there would leave the lock
  // held and the channel's queues half updated. Wrap such a T in std::unique_ptr.
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "urgent::Chan<T>: T's move constructor must be noexcept (the runtime moves "
                "elements under the channel's lock); use a std::unique_ptr<T> instead");
  static_assert(std::is_nothrow_destructible_v<T>,
                "urgent::Chan<T>: T's destructor must be noexcept (the runtime destroys "
                "elements under the channel's lock)");

 public:
  // An unbuffered channel (make(chan T)).
  Chan() : c_(detail::makechan(&detail::kElemType<T>, 0)) {}
  // A new channel with room for `cap` buffered values (0: unbuffered, as make(chan T, 0)).
  // A negative cap panics: Panic("makechan: size out of range"). (Any integer type, so that
  // Chan<T>(0) means a capacity, not the nil channel.)
  template <std::integral I>
  explicit Chan(I cap) : c_(make(cap)) {}
  // The nil channel: sends and receives block forever, a select case on it never fires,
  // close panics.
  Chan(std::nullptr_t) : c_(nullptr) {}
  Chan(const Chan& o) : c_(o.c_) {
    if (c_) detail::chanref(c_);
  }
  Chan(Chan&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Chan& operator=(Chan o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~Chan() {
    if (c_) detail::chanunref(c_);
  }

  // Sends v, blocking until a receiver takes it or there is buffer room.
  // Throws Panic("send on closed channel").
  void send(T v) { detail::chansend(c_, &v); }
  // Receives a value, blocking until there is one; empty once the channel is closed and
  // drained (Go's v, ok := <-c with ok == false).
  std::optional<T> recv() {
    detail::Slot<T> s;
    if (detail::chanrecv(c_, s.bytes)) return s.take();
    return std::nullopt;
  }
  // Sends without blocking; false (and v untouched) if it would block.
  bool try_send(T&& v) { return detail::chansend_nb(c_, &v); }
  bool try_send(const T& v) {
    T copy(v);
    return detail::chansend_nb(c_, &copy);
  }
  // Receives without blocking: empty if it would block or the channel is closed and
  // drained (*closed tells which).
  std::optional<T> try_recv(bool* closed = nullptr) {
    detail::Slot<T> s;
    int r = detail::chanrecv_nb(c_, s.bytes);
    if (closed) *closed = r < 0;
    if (r > 0) return s.take();
    return std::nullopt;
  }
  // Closes the channel: receivers drain what is buffered, then get empty optionals; blocked
  // senders panic. Throws Panic("close of closed channel") / ("close of nil channel").
  void close() { detail::closechan(c_); }
  std::size_t len() const { return detail::chanlen(c_); }
  std::size_t cap() const { return detail::chancap(c_); }
  bool is_nil() const { return c_ == nullptr; }
  friend bool operator==(const Chan& a, const Chan& b) { return a.c_ == b.c_; }

  // for (auto v : ch): receives until the channel is closed and drained (Go's range).
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;
    iterator() = default;
    explicit iterator(Chan* c) : c_(c) { ++*this; }
    T& operator*() { return *v_; }
    iterator& operator++() {
      v_ = c_->recv();
      if (!v_) c_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.c_ == b.c_; }

   private:
    Chan* c_ = nullptr;
    std::optional<T> v_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

  detail::Hchan* raw() const { return c_; }

 private:
  template <class I>
  static detail::Hchan* make(I cap) {
    if constexpr (std::is_signed_v<I>) {
      return detail::makechan_signed(&detail::kElemType<T>, static_cast<long long>(cap));
    } else {
      return detail::makechan(&detail::kElemType<T>, static_cast<std::size_t>(cap));
    }
  }
  detail::Hchan* c_;
};

}  // namespace urgent
