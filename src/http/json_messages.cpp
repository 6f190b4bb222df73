// Notification and status shapes; see json_messages.hpp for why they are hand-built.
#include "http/json_messages.hpp"

#include <charconv>
#include <cstdio>

namespace waitroom::http {
namespace {

void append_int(std::string& out, std::int64_t value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void append_key(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}

void append_string(std::string& out, std::string_view value) {
  out += '"';
  out += value;
  out += '"';
}

std::string_view session_type_name(engine::Status status) {
  return status == engine::Status::connected ? "active" : "draft";
}

std::string begin(std::string_view user_id, std::string_view status) {
  std::string out;
  out.reserve(128);
  out += "{\"user_id\":\"";
  out += user_id;
  out += "\",\"status\":\"";
  out += status;
  out += '"';
  return out;
}

Duration remaining(TimePoint deadline, TimePoint now) {
  return deadline > now ? std::chrono::duration_cast<Duration>(deadline - now) : Duration{0};
}

}  // namespace

void append_seconds(std::string& out, Duration duration) {
  auto ms = duration.count();
  if (ms < 0) ms = 0;
  append_int(out, ms / 1000);
  if (auto fraction = ms % 1000; fraction != 0) {
    char digits[5] = {'.', char('0' + fraction / 100), char('0' + fraction / 10 % 10),
                      char('0' + fraction % 10), 0};
    std::string_view text(digits, 4);
    while (text.back() == '0') text.remove_suffix(1);
    out += text;
  }
}

void append_estimated_wait(std::string& out, Duration duration) {
  auto ms = duration.count();
  if (ms < 0) ms = 0;
  append_int(out, (ms + 999) / 1000);
}

void append_instant(std::string& out, TimePoint instant) {
  const auto day = std::chrono::floor<std::chrono::days>(instant);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss time{instant - day};
  char buffer[40];
  const int length = std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                                   int(date.year()), unsigned(date.month()), unsigned(date.day()),
                                   int(time.hours().count()), int(time.minutes().count()),
                                   int(time.seconds().count()), int(time.subseconds().count()));
  out.append(buffer, std::size_t(length));
}

std::string format_instant(TimePoint instant) {
  std::string out;
  append_instant(out, instant);
  return out;
}

std::string position_message(std::string_view user_id, std::uint64_t position,
                             Duration estimated_wait) {
  auto out = begin(user_id, "waiting");
  append_key(out, "position");
  append_int(out, std::int64_t(position));
  append_key(out, "estimated_wait");
  append_estimated_wait(out, estimated_wait);
  out += '}';
  return out;
}

std::string event_message(const engine::Event& event) {
  using Kind = engine::Event::Kind;
  switch (event.kind) {
    case Kind::waiting:
      return position_message(event.user_id, event.position, event.estimated_wait);
    case Kind::draft: {
      auto out = begin(event.user_id, "draft");
      append_key(out, "duration");
      append_seconds(out, event.duration);
      append_key(out, "expires_at");
      out += '"';
      append_instant(out, event.expires_at);
      out += "\"}";
      return out;
    }
    case Kind::connected: {
      auto out = begin(event.user_id, "connected");
      append_key(out, "session_duration");
      append_seconds(out, event.duration);
      append_key(out, "expires_at");
      out += '"';
      append_instant(out, event.expires_at);
      out += "\"}";
      return out;
    }
    case Kind::expiring_soon: {
      auto out = begin(event.user_id, "expiring_soon");
      append_key(out, "remaining_time");
      append_seconds(out, event.remaining);
      append_key(out, "session_type");
      append_string(out, session_type_name(event.session_type));
      out += '}';
      return out;
    }
    case Kind::requeued: {
      auto out = begin(event.user_id, "waiting");
      append_key(out, "reason");
      append_string(out, engine::to_string(event.reason));
      append_key(out, "position");
      append_int(out, std::int64_t(event.position));
      append_key(out, "estimated_wait");
      append_estimated_wait(out, event.estimated_wait);
      out += '}';
      return out;
    }
    case Kind::disconnected: {
      auto out = begin(event.user_id, "disconnected");
      append_key(out, "reason");
      append_string(out, engine::to_string(event.reason));
      out += '}';
      return out;
    }
  }
  return {};
}

std::string state_message(std::string_view user_id, const std::optional<engine::UserView>& view,
                          TimePoint now) {
  if (!view) {
    std::string out = "{\"user_id\":\"";
    out += user_id;
    out += "\",\"status\":null}";
    return out;
  }
  switch (view->status) {
    case engine::Status::waiting:
      return position_message(user_id, view->position, view->estimated_wait);
    case engine::Status::draft:
    case engine::Status::connected: {
      const bool draft = view->status == engine::Status::draft;
      auto out = begin(user_id, draft ? "draft" : "connected");
      append_key(out, draft ? "duration" : "session_duration");
      append_seconds(out, view->total_duration);
      append_key(out, "expires_at");
      out += '"';
      append_instant(out, view->deadline);
      out += '"';
      append_key(out, "remaining_time");
      append_seconds(out, remaining(view->deadline, now));
      out += '}';
      return out;
    }
    case engine::Status::disconnected: {
      auto out = begin(user_id, "disconnected");
      append_key(out, "reason");
      if (view->reason == engine::Reason::none) {
        out += "null";
      } else {
        append_string(out, engine::to_string(view->reason));
      }
      out += '}';
      return out;
    }
  }
  return {};
}

void append_status_body(std::string& out, std::string_view user_id,
                        const std::optional<engine::UserView>& view, TimePoint now) {
  out += "{\"user_id\":\"";
  out += user_id;
  out += '"';
  append_key(out, "status");
  if (!view) {
    out += "null";
  } else {
    append_string(out, engine::to_string(view->status));
  }
  append_key(out, "position");
  const bool waiting = view && view->status == engine::Status::waiting;
  const bool holding =
      view && (view->status == engine::Status::draft || view->status == engine::Status::connected);
  if (waiting || holding) {
    append_int(out, engine::api_position(*view));
  } else {
    out += "null";
  }
  append_key(out, "remaining_time");
  if (holding) {
    append_seconds(out, remaining(view->deadline, now));
  } else {
    out += "null";
  }
  append_key(out, "estimated_wait");
  if (waiting) {
    append_estimated_wait(out, view->estimated_wait);
  } else {
    out += "null";
  }
  if (view && view->status == engine::Status::disconnected &&
      view->reason != engine::Reason::none) {
    append_key(out, "reason");
    append_string(out, engine::to_string(view->reason));
  }
  append_key(out, "timestamp");
  out += '"';
  append_instant(out, now);
  out += "\"}";
}

void append_join_body(std::string& out, std::string_view user_id, const engine::JoinResult& result,
                      std::string_view ticket) {
  out += "{\"user_id\":";
  append_string(out, user_id);
  append_key(out, "last_status");
  if (result.before) {
    append_string(out, engine::to_string(result.before->status));
  } else {
    out += "null";
  }
  append_key(out, "last_position");
  if (result.before && result.before->status != engine::Status::disconnected) {
    append_int(out, engine::api_position(*result.before));
  } else {
    out += "null";
  }
  append_key(out, "commit_status");
  append_string(out, engine::to_string(result.after.status));
  append_key(out, "commit_position");
  append_int(out, engine::api_position(result.after));
  append_key(out, "estimated_wait");
  append_estimated_wait(out, result.after.estimated_wait);
  append_key(out, "ticket");
  if (ticket.empty()) {
    out += "null";
  } else {
    append_string(out, ticket);
  }
  out += '}';
}

}  // namespace waitroom::http
