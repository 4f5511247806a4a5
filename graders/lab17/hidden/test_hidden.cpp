// Lab 17's hidden tests (filled in below).
#include "../public/common.hpp"
