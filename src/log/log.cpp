#include "log/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace netfence::log {
namespace {

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::trace:
      return spdlog::level::trace;
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warn:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
    case Level::off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

// spdlog's level names are "warning"/"error" in lower case; SPEC §2 wants TRACE DEBUG INFO WARN
// ERROR, so the level is written by a custom pattern flag.
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view name = "INFO";
    switch (msg.level) {
      case spdlog::level::trace:
        name = "TRACE";
        break;
      case spdlog::level::debug:
        name = "DEBUG";
        break;
      case spdlog::level::info:
        name = "INFO";
        break;
      case spdlog::level::warn:
        name = "WARN";
        break;
      default:
        name = "ERROR";
        break;
    }
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

}  // namespace

std::optional<Level> parse_level(std::string_view s) noexcept {
  if (s == "trace") return Level::trace;
  if (s == "debug") return Level::debug;
  if (s == "info") return Level::info;
  if (s == "warn") return Level::warn;
  if (s == "error") return Level::error;
  if (s == "off") return Level::off;
  return std::nullopt;
}

struct Logger::Impl {
  std::shared_ptr<spdlog::logger> logger;
};

Logger::Logger(Level level) : impl_(std::make_unique<Impl>()) {
  // Not registered in spdlog's global registry: each Logger is independent.
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  impl_->logger = std::make_shared<spdlog::logger>("netfence", std::move(sink));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<LevelFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %* %v");
  impl_->logger->set_formatter(std::move(formatter));
  impl_->logger->set_level(to_spdlog(level));
  impl_->logger->flush_on(spdlog::level::trace);
}

Logger::~Logger() = default;

void Logger::set_level(Level level) { impl_->logger->set_level(to_spdlog(level)); }

bool Logger::enabled(Level level) const noexcept {
  return level != Level::off && impl_->logger->should_log(to_spdlog(level));
}

void Logger::write(Level level, std::string_view text) {
  if (level == Level::off) return;
  impl_->logger->log(to_spdlog(level), spdlog::string_view_t(text.data(), text.size()));
}

}  // namespace netfence::log
