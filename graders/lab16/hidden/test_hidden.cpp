#include "grader/grader.hpp"
