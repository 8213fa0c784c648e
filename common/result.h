// Errors as values: Result<T> carries either a T or an Error (errno + context).
// Used on the data path instead of exceptions, per CONVENTIONS.md.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace ferry {

struct Error {
  int code = 0;         // errno-style value; 0 when the error is not a syscall failure
  std::string context;  // what we were doing, e.g. "bind 198.18.1.2:15001"

  std::string Message() const {
    if (code == 0) return context;
    return context + ": " + std::strerror(code);
  }
};

// Builds an Error from the current errno.
inline Error ErrnoError(std::string context) { return Error{errno, std::move(context)}; }
inline Error MakeError(std::string context, int code = 0) { return Error{code, std::move(context)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

// Fires in release builds too: for states that are impossible after initialisation.
[[noreturn]] void AssertFailed(const char* expr, const char* file, int line);
#define FERRY_ASSERT(expr) \
  ((expr) ? (void)0 : ::ferry::AssertFailed(#expr, __FILE__, __LINE__))

// Propagates an error from an expression returning Result<...>.
#define FERRY_TRY(expr)                                   \
  do {                                                    \
    auto ferry_try_result_ = (expr);                      \
    if (!ferry_try_result_.ok()) return ferry_try_result_.error(); \
  } while (0)

}  // namespace ferry
