-- Part 2 of 4: the notifications as JSON, byte for byte what src/http/json_messages.cpp
-- builds from an engine::Event (the shapes of DESIGN.md §3), so that a stream reads the same
-- messages whichever store runs the room. Every value is a number, a fixed word or a user id
-- that the HTTP layer validated (no character JSON would escape). Numbers are formatted with
-- %d: Lua's own number-to-string conversion switches to exponents past 14 digits.

local STATUS_NAMES = {[0] = 'waiting', [1] = 'draft', [2] = 'connected', [3] = 'disconnected'}
local REASON_NAMES = {[0] = 'none', [1] = 'left', [2] = 'kicked', [3] = 'draft_timeout',
                      [4] = 'session_timeout', [5] = 'idle_timeout', [6] = 'abandoned'}

-- Seconds: an integer when whole, else up to three decimals without trailing zeros.
local function seconds_text(ms)
  if ms < 0 then ms = 0 end
  local whole = floor(ms / 1000)
  local fraction = ms - whole * 1000
  if fraction == 0 then return fmt('%d', whole) end
  local digits = fmt('%03d', fraction):gsub('0+$', '')
  return fmt('%d', whole) .. '.' .. digits
end

-- Whole seconds, rounded up.
local function estimate_text(ms)
  if ms < 0 then ms = 0 end
  return fmt('%d', floor((ms + 999) / 1000))
end

-- ISO 8601 UTC with milliseconds, from Unix ms (days to a civil date: H. Hinnant's
-- algorithm, for instants after 1970).
local function instant_text(ms)
  local days = floor(ms / 86400000)
  local in_day = ms - days * 86400000
  local z = days + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local year = yoe + era * 400
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local day = doy - floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  if month <= 2 then year = year + 1 end
  local hours = floor(in_day / 3600000)
  local minutes = floor(in_day / 60000) % 60
  local secs = floor(in_day / 1000) % 60
  return fmt('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', year, month, day, hours, minutes, secs,
             in_day % 1000)
end

-- The opening of every message; the caller appends fields, the closing brace comes last
-- (with the store sequence, see publish_events).
local function message_head(id, status)
  return '{"user_id":"' .. id .. '","status":"' .. status .. '"'
end

local function waiting_message(id, position, estimate_ms)
  return message_head(id, 'waiting') .. ',"position":' .. fmt('%d', position) ..
             ',"estimated_wait":' .. estimate_text(estimate_ms)
end

local function draft_message(id, duration_ms, expires_ms)
  return message_head(id, 'draft') .. ',"duration":' .. seconds_text(duration_ms) ..
             ',"expires_at":"' .. instant_text(expires_ms) .. '"'
end

local function connected_message(id, duration_ms, expires_ms)
  return message_head(id, 'connected') .. ',"session_duration":' .. seconds_text(duration_ms) ..
             ',"expires_at":"' .. instant_text(expires_ms) .. '"'
end

local function expiring_message(id, remaining_ms, status)
  return message_head(id, 'expiring_soon') .. ',"remaining_time":' ..
             seconds_text(remaining_ms) .. ',"session_type":"' ..
             (status == CONNECTED and 'active' or 'draft') .. '"'
end

local function requeued_message(id, reason, position, estimate_ms)
  return message_head(id, 'waiting') .. ',"reason":"' .. REASON_NAMES[reason] ..
             '","position":' .. fmt('%d', position) .. ',"estimated_wait":' ..
             estimate_text(estimate_ms)
end

local function disconnected_message(id, reason)
  return message_head(id, 'disconnected') .. ',"reason":"' .. REASON_NAMES[reason] .. '"'
end
