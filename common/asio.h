#pragma once

// Include Asio through this header. Boost 1.74's asio/awaitable.hpp uses
// std::exchange without including <utility> (fixed upstream in 1.75).
#include <utility>
// clang-format off
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
// clang-format on
