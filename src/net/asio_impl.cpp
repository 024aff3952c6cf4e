// The single translation unit that compiles Asio, Asio-SSL and Beast (separate compilation,
// cpp-stack A.5-12): every other TU sees only declarations, which keeps rebuilds fast.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
