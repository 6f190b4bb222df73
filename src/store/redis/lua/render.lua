-- Part 2 of 4: the notifications as JSON, byte for byte what src/http/json_messages.cpp
-- builds from an engine::Event (the shapes of DESIGN.md §3), so that a stream reads the same
-- messages whichever store runs the room. Every value is a number, a fixed word or a user id
-- that the HTTP layer validated (no character JSON would escape). Numbers are formatted with
-- %d: Lua's own number-to-string conversion switches to exponents past 14 digits.

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

-- The notifications of one operation, published when it ends (see finish): flat, five
-- entries each: the user id, the message's format, and up to three values for it. The store
-- sequence, known only then, is the format's last value: one string.format per message,
-- where a concatenation would build one string per piece.
local events, event_count = {}, 0

local function emit(id, format, a, b, c)
  events[event_count + 1] = id
  events[event_count + 2] = format
  events[event_count + 3] = a
  events[event_count + 4] = b
  events[event_count + 5] = c
  event_count = event_count + 5
end

-- The message of events[i], with the store sequence.
local function message_of(i, sequence)
  local c = events[i + 4]
  if c ~= nil then return fmt(events[i + 1], events[i], events[i + 2], events[i + 3], c, sequence) end
  local b = events[i + 3]
  if b ~= nil then return fmt(events[i + 1], events[i], events[i + 2], b, sequence) end
  return fmt(events[i + 1], events[i], events[i + 2], sequence)
end

-- Whole seconds, rounded up.
local function estimate_seconds(ms)
  if ms < 0 then return 0 end
  return floor((ms + 999) / 1000)
end

-- The notifications by kind.
local EMIT = {}

local WAITING_FORMAT =
    '{"user_id":"%s","status":"waiting","position":%d,"estimated_wait":%d,"seq":%d}'

function EMIT.waiting(id, position, estimate_ms)
  emit(id, WAITING_FORMAT, position, estimate_seconds(estimate_ms))
end

function EMIT.draft(id, duration_ms, expires_ms)
  emit(id, '{"user_id":"%s","status":"draft","duration":%s,"expires_at":"%s","seq":%d}',
       seconds_text(duration_ms), instant_text(expires_ms))
end

function EMIT.connected(id, duration_ms, expires_ms)
  emit(id,
       '{"user_id":"%s","status":"connected","session_duration":%s,"expires_at":"%s","seq":%d}',
       seconds_text(duration_ms), instant_text(expires_ms))
end

function EMIT.expiring(id, remaining_ms, status)
  emit(id,
       '{"user_id":"%s","status":"expiring_soon","remaining_time":%s,"session_type":"%s","seq":%d}',
       seconds_text(remaining_ms), status == CONNECTED and 'active' or 'draft')
end

function EMIT.requeued(id, reason, position, estimate_ms)
  emit(id, '{"user_id":"%s","status":"waiting","reason":"%s","position":%d,' ..
               '"estimated_wait":%d,"seq":%d}', REASON_NAMES[reason], position,
       estimate_seconds(estimate_ms))
end

function EMIT.disconnected(id, reason)
  emit(id, '{"user_id":"%s","status":"disconnected","reason":"%s","seq":%d}', REASON_NAMES[reason])
end
