#pragma once
#include <stdexcept>
#include <string>

namespace fastcrl {

/// A numerical failure (singular system, matrix outside a function's domain, divergence).
/// Bad arguments throw std::invalid_argument instead; the bindings map this to fastcrl.NumericalError.
class NumericalError : public std::runtime_error {
 public:
  explicit NumericalError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace fastcrl
