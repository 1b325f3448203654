// Filled in by the exact search implementation.
#include "fastcrl/search.hpp"
