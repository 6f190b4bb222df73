-- waitroom's queue engine as one Redis script (DESIGN.md §5, issue 6), part 1 of 4: the
-- arguments, the keys, and the state as Lua tables with their dirty fields.
--
-- The four files under src/store/redis/lua/ are concatenated in this order (prelude,
-- render, engine, operations) into one script that CMake embeds into the binary; the store
-- loads it with SCRIPT LOAD and calls it by EVALSHA. Every call is one operation of the
-- Store interface, named by ARGV[1], and runs atomically: the timers that are due run
-- first, then the operation, then every change is written back and every notification is
-- published, all in the same script. So the Lua engine needs no lock and no lease: two
-- instances that call it at once are simply serialised by Redis.
--
-- The engine mirrors src/engine/engine.cpp step for step (the same transitions, the same
-- timer order, the same events), so that the randomised comparison test can apply one
-- operation sequence to both and expect the same states, positions and notifications.
--
-- ARGV: op, key prefix, channel prefix, now (Unix ms from the caller's Clock), then the
-- operation's own arguments. Time is never read from Redis: `now` is an argument, raised
-- to the largest `now` any caller has passed so far, so that two instances whose clocks
-- differ by a few milliseconds never move the room's time backwards.
--
-- Keys, all under the prefix:
--   g        hash   globals: settings, pause, ticket/generation/timer counters, counts,
--                   statistics, the queue version and the store sequence
--   u:<id>   hash   one user record (field names in USER_FIELDS)
--   q        zset   waiting users, score = ticket: ZRANK is the position, O(log N)
--   t        zset   armed timers, score = deadline (ms); member = 15-digit timer sequence,
--                   timer kind and user id, so that equal deadlines fire in sequence order;
--                   "L<instance>" members are the instances' stream leases
--   D, C     set    users in draft / connected (for get_users)
--   U        zset   every user id, score = its slot number (the engine's slab order)
--   F        list   free slot numbers (the engine's free list, reused last-in first-out)
--   r        list   the last 32 slot releases (ms), for the estimated wait
--   i:<inst> hash   the event streams an instance holds: stream token -> user id
local call = redis.call
local floor = math.floor
local fmt = string.format

local OP = ARGV[1]
local PREFIX = ARGV[2]
local CHANNEL_PREFIX = ARGV[3]
local now = tonumber(ARGV[4])

local KEY_GLOBALS = PREFIX .. 'g'
local KEY_QUEUE = PREFIX .. 'q'
local KEY_TIMERS = PREFIX .. 't'
local KEY_DRAFTS = PREFIX .. 'D'
local KEY_CONNECTED = PREFIX .. 'C'
local KEY_USERS = PREFIX .. 'U'
local KEY_FREE_SLOTS = PREFIX .. 'F'
local KEY_RELEASES = PREFIX .. 'r'

-- engine::Status and engine::Reason, by their enum values.
local WAITING, DRAFT, CONNECTED, DISCONNECTED = 0, 1, 2, 3
local R_NONE, R_LEFT, R_KICKED, R_DRAFT_TIMEOUT = 0, 1, 2, 3
local R_SESSION_TIMEOUT, R_IDLE_TIMEOUT, R_ABANDONED = 4, 5, 6
-- Timer kinds, as engine/timer_heap.hpp.
local T_STATE, T_ACTIVITY, T_WARNING = 0, 1, 2
local ARMED_SEQUENCE = {[0] = 'a0', [1] = 'a1', [2] = 'a2'}
local ARMED_DEADLINE = {[0] = 'd0', [1] = 'd1', [2] = 'd2'}
-- How many slot releases the estimate looks back on, and needs before it trusts them.
local RELEASE_WINDOW = 32
local MIN_RELEASE_SAMPLES = 5

-- Whether this call changed durable state (anything but proof of presence); the store
-- sequence moves only then, or when a notification goes out.
local changed = false

-- ---- globals ----------------------------------------------------------------------

local G = {}
local globals_dirty = {}
do
  local flat = call('HGETALL', KEY_GLOBALS)
  for i = 1, #flat, 2 do G[flat[i]] = tonumber(flat[i + 1]) end
end
-- Fields whose change is not a change of the room's state.
local VOLATILE_GLOBALS = {now = true, tseq = true}

local function gset(field, value)
  if G[field] ~= value then
    G[field] = value
    globals_dirty[field] = true
    if not VOLATILE_GLOBALS[field] then changed = true end
  end
end

local function ginc(field)
  gset(field, G[field] + 1)
end

if G.now and G.now > now then now = G.now end

-- ---- user records -----------------------------------------------------------------
--
-- st status, rs reason, w warned, rn renewed, dm draft misses, os open streams, tk ticket,
-- gen generation, ja joined at, ls last seen, dl deadline, td total duration, ca confirmed
-- at, ss session start, da disconnected at, a0..a2 armed timer sequence per kind (0: none),
-- d0..d2 the deadline each was armed for, sl slot.
local USER_FIELDS = {'st', 'rs', 'w', 'rn', 'dm', 'os', 'tk', 'gen', 'ja', 'ls', 'dl', 'td',
                     'ca', 'ss', 'da', 'a0', 'a1', 'a2', 'd0', 'd1', 'd2', 'sl'}
-- Proof of presence: not the room's state (the engine does not journal these either).
local PRESENCE_FIELDS = {ls = true, os = true, a1 = true, d1 = true}

local users = {}    -- id -> record, or false when known not to exist
local touched = {}  -- id -> record with dirty fields to write back

local function user_key(id)
  return PREFIX .. 'u:' .. id
end

local function load(id)
  local user = users[id]
  if user ~= nil then return user or nil end
  local flat = call('HGETALL', user_key(id))
  if #flat == 0 then
    users[id] = false
    return nil
  end
  user = {id = id, dirty = {}}
  for i = 1, #flat, 2 do user[flat[i]] = tonumber(flat[i + 1]) end
  users[id] = user
  return user
end

local function uset(user, field, value)
  if user[field] ~= value then
    user[field] = value
    user.dirty[field] = true
    touched[user.id] = user
    if not PRESENCE_FIELDS[field] then changed = true end
  end
end

-- Writes back every changed field of every touched record, and the changed globals.
local function save()
  for id, user in pairs(touched) do
    local args = {}
    for field in pairs(user.dirty) do
      args[#args + 1] = field
      args[#args + 1] = user[field]
    end
    if #args > 0 then call('HSET', user_key(id), unpack(args)) end
    user.dirty = {}
  end
  touched = {}
  local args = {}
  for field in pairs(globals_dirty) do
    args[#args + 1] = field
    args[#args + 1] = G[field]
  end
  if #args > 0 then call('HSET', KEY_GLOBALS, unpack(args)) end
  globals_dirty = {}
end
