// Filled in by the ges search implementation.
#include "fastcrl/search.hpp"
