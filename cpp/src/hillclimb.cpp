// Filled in by the hillclimb search implementation.
#include "fastcrl/search.hpp"
