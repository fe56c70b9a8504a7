// Exceptions that the bindings translate to Python's: ValueError for bad shapes and
// arguments, TypeError for bad dtypes, IndexError for indices out of range, MemoryError when
// an allocation fails, RuntimeError for everything else (size overflow, autograd misuse,
// missing kernels).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace dlcore {

struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct RuntimeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };
struct OutOfMemoryError : std::runtime_error { using std::runtime_error::runtime_error; };

// "[2, 3, 4]"
std::string shape_str(const std::vector<int64_t>& shape);

namespace detail {
inline void cat_to(std::ostringstream&) {}
template <typename T, typename... Rest>
void cat_to(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  cat_to(os, rest...);
}
}  // namespace detail

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::cat_to(os, args...);
  return os.str();
}

}  // namespace dlcore

// DL_CHECK(cond, ExcType, parts...): throws ExcType(str_cat(parts...)) when cond is false.
#define DL_CHECK(cond, Exc, ...)                         \
  do {                                                   \
    if (!(cond)) throw ::dlcore::Exc(::dlcore::str_cat(__VA_ARGS__)); \
  } while (0)
