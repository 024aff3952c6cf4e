#include "proxy/mitm_provider.hpp"

#include <openssl/ssl.h>

#include "mitm/ca_store.hpp"

namespace netfence::proxy {
namespace {

namespace ssl = boost::asio::ssl;

constexpr std::size_t kMaxContexts = 1024;

// §10.4: ALPN selects http/1.1; a client offering only other protocols gets no selection.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  static constexpr unsigned char kOurs[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  const int r = SSL_select_next_proto(&chosen, outlen, kOurs, sizeof kOurs, in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<ssl::context> make_context(const mitm::LeafCertificate& leaf) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1) return nullptr;
  SSL_CTX_set_options(
      c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate(c, leaf.x509()) != 1) return nullptr;
  if (SSL_CTX_use_PrivateKey(c, leaf.pkey()) != 1) return nullptr;
  if (SSL_CTX_check_private_key(c) != 1) return nullptr;
  SSL_CTX_set_alpn_select_cb(c, select_http11, nullptr);
  return ctx;
}

}  // namespace

MitmProvider::MitmProvider(std::filesystem::path proxy_dir) : dir_(std::move(proxy_dir)) {}

Result<void> MitmProvider::configure(const Config& cfg) {
  if (!cfg.mitm) return {};
  auto ca = mitm::load_or_create_ca(dir_, true);
  if (!ca) return ca.error();
  auto material = std::make_shared<const mitm::CaMaterial>(std::move(ca.value()));
  std::lock_guard lock(mutex_);
  if (minter_) {
    minter_->set_ca(std::move(material));  // leaves of another CA are re-minted on use
    return {};
  }
  auto minter = mitm::LeafMinter::create(std::move(material));
  if (!minter) return minter.error();
  minter_ = std::move(minter.value());
  return {};
}

std::shared_ptr<ssl::context> MitmProvider::server_context(const core::CanonicalHost& host) {
  std::shared_ptr<mitm::LeafMinter> minter;
  {
    std::lock_guard lock(mutex_);
    minter = minter_;
  }
  if (!minter) return nullptr;
  auto leaf = minter->get(host);  // signs outside our lock
  if (!leaf) return nullptr;

  std::lock_guard lock(mutex_);
  auto it = contexts_.find(host.text);
  if (it != contexts_.end()) {
    order_.splice(order_.begin(), order_, it->second.second);
    if (it->second.first.leaf == leaf.value()) return it->second.first.ctx;
  }
  auto ctx = make_context(*leaf.value());
  if (!ctx) return nullptr;
  if (it != contexts_.end()) {
    it->second.first = Cached{leaf.value(), ctx};
    return ctx;
  }
  if (contexts_.size() >= kMaxContexts) {
    contexts_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(host.text);
  contexts_.emplace(host.text, std::make_pair(Cached{leaf.value(), ctx}, order_.begin()));
  return ctx;
}

}  // namespace netfence::proxy
