-- waitroom's queue engine as one Redis script (DESIGN.md §5, issue 6), part 1 of 4: the
-- arguments, the keys, and the state as Lua tables with their dirty fields.
--
-- The four files under src/store/redis/lua/ are concatenated in this order (prelude,
-- render, engine, operations) and embedded into the binary by CMake twice: as a Redis
-- function library (FUNCTION LOAD, called by FCALL, Redis 7), and as a plain script
-- (EVALSHA, for an older Redis). Both end in run(args): one call is one operation of the
-- Store interface, or a batch of them, and runs atomically: the timers
-- that are due run first, then the operation, then every change is written back and every
-- notification is published, all in the same call. So the Lua engine needs no lock and no
-- lease: two instances that call it at once are simply serialised by Redis.
--
-- Why a function library by default: a script runs its whole text at every call, which
-- creates every one of its ~100 local functions again (their closures), about 20 µs a call
-- here; a library runs its text once, when loaded, and each call only runs the operation.
--
-- The engine mirrors src/engine/engine.cpp step for step (the same transitions, the same
-- timer order, the same events), so that the randomised comparison test can apply one
-- operation sequence to both and expect the same states, positions and notifications.
--
-- What a call costs, measured with callgrind on this Redis (docs/BENCHMARKS.md): a command
-- from Lua about 7,000 instructions, a table built about 700, a number packed or unpacked
-- by struct about 400, a number turned into text 2,000-4,000, a Lua function call about
-- 300. Hence the shape of this code: the state is read with one MGET and written with one
-- MSET per call; the globals are split by how often they change, so that a join or a status
-- poll packs a few of them, not all; user records are arrays, packed without their trailing
-- zeros; members are added to the queue and the timer set in one ZADD per call; answers are
-- packed numbers, not tables.
--
-- Arguments: key prefix, channel prefix, then one operation: its name, now (Unix ms from the
-- caller's Clock) and its own arguments; or 'batch', a count, and that many operations, each
-- preceded by its argument count (name and now included). Time is never read from Redis:
-- `now` is an argument, raised to the largest `now` any caller has passed so far, so that two
-- instances whose clocks differ by a few milliseconds never move the room's time backwards.
--
-- Keys, all under the prefix:
--   g        string the globals that most operations read or change, packed (HOT_FIELDS):
--                   the layout version first, counters, counts, the store sequence
--   s        string the settings, packed (SETTING_FIELDS); written by init and update only
--   h        string statistics and rarely used state, packed (COLD_FIELDS); read only by the
--                   operations that need them (a join of a new user does not)
--   u:<id>   string one user record, packed (the fields below, trailing zeros left out)
--   q        zset   waiting users, score = ticket: ZRANK is the position, O(log N)
--   t        zset   armed timers, score = deadline (ms); member = the timer sequence as a
--                   big-endian double (so that members sort by it), the timer kind as a
--                   digit, and the user id, so that equal deadlines fire in sequence order;
--                   "L<instance>" members are the instances' stream leases
--   D, C     set    users in draft / connected (for get_users)
--   r        list   the last 32 slot releases (ms), for the estimated wait
--   i:<inst> hash   the event streams an instance holds: stream token -> user id
-- Library functions, bound at the first call: a Redis function library may not touch any
-- global while it loads, only when one of its functions runs.
local call, floor, fmt, pack, unpack_struct, table_unpack, select_

-- The layout of the keys above; a room written in another layout is refused (see begin).
local LAYOUT = 2

-- engine::Status and engine::Reason, by their enum values.
local WAITING, DRAFT, CONNECTED, DISCONNECTED = 0, 1, 2, 3
local R_NONE, R_LEFT, R_KICKED, R_DRAFT_TIMEOUT = 0, 1, 2, 3
local R_SESSION_TIMEOUT, R_IDLE_TIMEOUT, R_ABANDONED = 4, 5, 6
-- Timer kinds, as engine/timer_heap.hpp.
local T_STATE, T_ACTIVITY, T_WARNING = 0, 1, 2
-- How many slot releases the estimate looks back on, and needs before it trusts them.
local RELEASE_WINDOW = 32
local MIN_RELEASE_SAMPLES = 5
-- Members per ZADD and keys per MSET: a command's arguments live on Lua's C stack.
local MAX_PENDING = 1000

-- The state of one call, set by begin(), and of one operation, set by begin_operation():
-- the operation's own arguments are ARGS[BASE + 1] to ARGS[LAST] (no table of their own).
local ARGS, BASE, LAST, OP, PREFIX, CHANNEL_PREFIX, now
local KEY_GLOBALS, KEY_SETTINGS, KEY_COLD, KEY_QUEUE, KEY_TIMERS, KEY_DRAFTS, KEY_CONNECTED
local KEY_RELEASES, KEY_USER_PREFIX
local keys_prefix  -- the prefix the KEY_ names were built for (kept across calls)
-- Whether this operation changed durable state (anything but proof of presence); the store
-- sequence moves only then, or when a notification goes out.
local changed = false

-- ---- packing ---------------------------------------------------------------------------
--
-- Numbers are stored and answered as little-endian doubles (struct 'd': exact for integers
-- up to 2^53). FORMATS[n] is '<' and n 'd'.
local FORMATS = {}

local function format_of(count)
  local format = FORMATS[count]
  if not format then
    format = '<' .. string.rep('d', count)
    FORMATS[count] = format
  end
  return format
end

-- Numbers packed as an answer (C++: PackedReader). Turning a Lua table into a Redis reply
-- costs more than the whole rest of a small operation (Redis inspects every nested table for
-- error and status fields), and the caller parses one string faster than an array.
local function numbers(...)
  return pack(format_of(select_('#', ...)), ...)
end

-- ---- globals ----------------------------------------------------------------------------
--
-- G holds the globals of all three keys by name. Hot fields: layout, now (the latest `now`
-- seen), seq (store sequence), tseq (next timer sequence), nbt (next back ticket), nwait
-- (queue length, hence the position of whoever joins at the back), ngen (next generation),
-- nusers (records), due (no timer is due before it: a lower bound of the timer set's
-- scores), ndraft, nconn, ver (queue version), c_joins, nrel (slot releases recorded),
-- oldrel (the oldest release of the estimate's window), paused. Settings: max
-- (max_active_users), sess, draft, idle, pres (ms), miss (max_draft_misses), soon
-- (expiring_soon ms), rq (requeue policy, 1: front), renew (session renewal, 1: on), ret
-- (disconnected retention ms). Cold fields: nft (next front ticket), allow (the cap
-- allowance), twait, tsess, send (total wait, total session length, sessions ended) and the
-- counters c_*. The cold fields are read from h the first time a call touches one (G's
-- metatable), so that calls that need none do not pay for them.
local HOT_FIELDS = {'layout', 'now', 'seq', 'tseq', 'nbt', 'nwait', 'ngen', 'nusers', 'due',
                    'ndraft', 'nconn', 'ver', 'c_joins', 'nrel', 'oldrel', 'paused'}
local SETTING_FIELDS = {'max', 'sess', 'draft', 'idle', 'pres', 'miss', 'soon', 'rq', 'renew',
                        'ret'}
local COLD_FIELDS = {'nft', 'allow', 'twait', 'tsess', 'send', 'c_drafts', 'c_adm', 'c_leaves',
                     'c_kicks', 'c_rq', 'c_dto', 'c_sto', 'c_ito', 'c_ab'}
local HOT_FORMAT = '<dddddddddddddddd'
local SETTING_FORMAT = '<dddddddddd'
local COLD_FORMAT = '<dddddddddddddd'
-- Which key each field lives in: 1 g, 2 s, 3 h (filled at the first call).
local GROUP = {}
-- Fields whose change is not a change of the room's state.
local VOLATILE_GLOBALS = {now = true, tseq = true, due = true}

local G = {}
local hot_dirty, settings_dirty, cold_dirty = false, false, false
local cold_loaded = false
-- Unpacking costs more than reading: G keeps the fields from call to call, with the packed
-- strings they came from (or were written as) in hot_cache and settings_cache, for the
-- prefix cache_prefix. Lua 5.1 interns every string, so the string a call reads is the very
-- object cached when the key has not changed since: one comparison, no unpacking. The caches
-- are cleared while a call runs and set again only when it ends with G matching them.
local hot_read, settings_read
local hot_cache, settings_cache, cache_prefix

local function load_cold()
  cold_loaded = true
  local packed = call('GET', KEY_COLD)
  if not packed then
    for _, name in ipairs(COLD_FIELDS) do G[name] = 0 end
    return
  end
  G.nft, G.allow, G.twait, G.tsess, G.send, G.c_drafts, G.c_adm, G.c_leaves, G.c_kicks, G.c_rq,
      G.c_dto, G.c_sto, G.c_ito, G.c_ab = unpack_struct(COLD_FORMAT, packed)
end

-- G's metatable: a cold field that is not there yet is read from h on first use.
local G_META = {
  __index = function(_, field)
    if GROUP[field] == 3 and not cold_loaded then
      load_cold()
      return rawget(G, field)
    end
    return nil
  end
}

local function gset(field, value)
  if G[field] ~= value then
    G[field] = value
    local group = GROUP[field]
    if group == 1 then
      hot_dirty = true
    elseif group == 2 then
      settings_dirty = true
    else
      cold_dirty = true
    end
    if not VOLATILE_GLOBALS[field] then changed = true end
  end
end

local function ginc(field)
  gset(field, G[field] + 1)
end

-- The fields are written out in order: one multiple assignment and one call, with no
-- table in between, is about twice as fast as a loop over the names.
local function unpack_hot(packed)
  G.layout, G.now, G.seq, G.tseq, G.nbt, G.nwait, G.ngen, G.nusers, G.due, G.ndraft, G.nconn,
      G.ver, G.c_joins, G.nrel, G.oldrel, G.paused = unpack_struct(HOT_FORMAT, packed)
end

local function unpack_settings(packed)
  G.max, G.sess, G.draft, G.idle, G.pres, G.miss, G.soon, G.rq, G.renew, G.ret =
      unpack_struct(SETTING_FORMAT, packed)
end

-- The writes of the globals that changed, appended to `writes` (key, value, ...).
local function write_globals(writes, count)
  local function put(key, value)
    writes[count + 1] = key
    writes[count + 2] = value
    count = count + 2
  end
  if hot_dirty then
    hot_read = pack(HOT_FORMAT, G.layout, G.now, G.seq, G.tseq, G.nbt, G.nwait, G.ngen, G.nusers,
                    G.due, G.ndraft, G.nconn, G.ver, G.c_joins, G.nrel, G.oldrel, G.paused)
    put(KEY_GLOBALS, hot_read)
    hot_dirty = false
  end
  if settings_dirty then
    settings_read = pack(SETTING_FORMAT, G.max, G.sess, G.draft, G.idle, G.pres, G.miss, G.soon,
                         G.rq, G.renew, G.ret)
    put(KEY_SETTINGS, settings_read)
    settings_dirty = false
  end
  if cold_dirty then
    put(KEY_COLD, pack(COLD_FORMAT, G.nft, G.allow, G.twait, G.tsess, G.send, G.c_drafts, G.c_adm,
                       G.c_leaves, G.c_kicks, G.c_rq, G.c_dto, G.c_sto, G.c_ito, G.c_ab))
    cold_dirty = false
  end
  return count
end

-- ---- user records -----------------------------------------------------------------------
--
-- A record is an array, indexed by the names below: an array is built by one instruction
-- where a table of named fields costs one hash insertion per field, and it packs with one
-- unpack(). The order puts what a waiting user has first, so that its packed record ends
-- early: status, reason, generation, ticket, joined at, last seen, the activity timer's
-- sequence and deadline, draft misses, open streams, warned, renewed, deadline, total
-- duration, confirmed at, session start, disconnected at, the state and warning timers'
-- sequences and deadlines (sequence 0: not armed). ID, not packed, is the user id.
local ST, RS, GEN, TK, JA, LS, A1, D1, DM, OS, W, RN = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
local DL, TD, CA, SS, DA, A0, D0, A2, D2 = 13, 14, 15, 16, 17, 18, 19, 20, 21
local USER_LENGTH = 21
local ID = 22
local ARMED_SEQUENCE = {[0] = A0, [1] = A1, [2] = A2}
local ARMED_DEADLINE = {[0] = D0, [1] = D1, [2] = D2}
local USER_FORMAT = '<ddddddddddddddddddddd'
local USER_PADDING  -- USER_LENGTH zero doubles: a short record is unpacked with it appended
-- Proof of presence: not the room's state (the engine does not journal these either).
local PRESENCE_FIELDS = {[LS] = true, [OS] = true, [A1] = true, [D1] = true}

local users = {}        -- id -> record, or false when known not to exist
local touched = {}      -- id -> record to write back
local prefetched = {}   -- id -> packed record or false, read by the call's MGET
local touched_raw = {}  -- id -> packed record to write back (a fast path's patch)

local function user_key(id)
  return KEY_USER_PREFIX .. id
end

local function unpack_user(id, packed)
  if #packed < USER_LENGTH * 8 then packed = packed .. USER_PADDING end
  -- unpack's last value (the next position) lands at ID and is replaced by the id.
  local user = {unpack_struct(USER_FORMAT, packed)}
  user[ID] = id
  return user
end

local function load(id)
  local user = users[id]
  if user ~= nil then return user or nil end
  local packed = prefetched[id]
  if packed == nil then packed = call('GET', user_key(id)) end
  if not packed then
    users[id] = false
    return nil
  end
  user = unpack_user(id, packed)
  users[id] = user
  return user
end

local function pack_user(user)
  local length = USER_LENGTH
  while length > 1 and user[length] == 0 do length = length - 1 end
  return pack(format_of(length), table_unpack(user, 1, length))
end

local function uset(user, field, value)
  if user[field] ~= value then
    user[field] = value
    touched[user[ID]] = user
    if not PRESENCE_FIELDS[field] then changed = true end
  end
end

-- ---- queue and timer set writes ----------------------------------------------------------
--
-- Members added to the queue and to the timer set wait in these lists and go to Redis as one
-- ZADD per key: a batch of joins adds its users with two commands instead of two each. Any
-- other command on either key sends its pending members first (queue_call, timer_call), so
-- that Redis always answers as if they had been added at once.
-- Each list: the key, the count, then score and member pairs (scores as text).
local QUEUE_ADDS, TIMER_ADDS = {count = 0}, {count = 0}

local function flush(adds)
  local count = adds.count
  if count > 0 then
    adds.count = 0
    call('ZADD', adds.key, table_unpack(adds, 1, count))
  end
end

-- The text of the last score formatted, per list: the joins of one batch share their
-- presence deadline.
local function add(adds, score, member)
  local count = adds.count
  if adds.score ~= score then
    adds.score = score
    adds.text = fmt('%d', score)
  end
  adds[count + 1] = adds.text
  adds[count + 2] = member
  adds.count = count + 2
  if count + 2 >= MAX_PENDING then flush(adds) end
end

local function queue_add(ticket, id)
  add(QUEUE_ADDS, ticket, id)
end

local function timer_add(deadline, member)
  add(TIMER_ADDS, deadline, member)
end

local function queue_call(command, ...)
  flush(QUEUE_ADDS)
  return call(command, KEY_QUEUE, ...)
end

local function timer_call(command, ...)
  flush(TIMER_ADDS)
  return call(command, KEY_TIMERS, ...)
end

-- Writes back every touched record, the globals that changed and the pending members: one
-- MSET (one per MAX_PENDING / 2 records when a call touched many, such as a settings change
-- that re-arms everyone's timers).
local function save()
  local writes, count = {}, 0
  -- A record patched packed and then loaded and changed again is written twice in the
  -- same MSET: the later value, from `touched`, wins.
  for id, packed in pairs(touched_raw) do
    writes[count + 1] = user_key(id)
    writes[count + 2] = packed
    count = count + 2
  end
  touched_raw = {}
  for id, user in pairs(touched) do
    writes[count + 1] = user_key(id)
    writes[count + 2] = pack_user(user)
    count = count + 2
    if count >= MAX_PENDING then
      call('MSET', table_unpack(writes, 1, count))
      count = 0
    end
  end
  touched = {}
  count = write_globals(writes, count)
  if count > 0 then call('MSET', table_unpack(writes, 1, count)) end
  flush(QUEUE_ADDS)
  flush(TIMER_ADDS)
end

-- Inside a batch (see run): the operations' changes are written back once, at its end.
local in_batch = false

-- The state each operation starts afresh; engine.lua adds its own.
local RESETS = {}

-- Starts one operation (of a call, or of a batch): its name at args[base - 1], its `now` at
-- args[base] (never behind the latest one seen), its arguments up to args[last], and a clean
-- slate for its own state.
local now_text, now_number  -- the last `now` parsed: a batch's operations mostly share it

-- Small counts as text -> number (a batch's argument counts): tonumber is strtod.
local SMALL_NUMBERS = {}

local function count_of(text)
  return SMALL_NUMBERS[text] or tonumber(text)
end

local function begin_operation(args, base, last)
  ARGS, BASE, LAST = args, base, last
  OP = args[base - 1]
  local text = args[base]
  if text ~= now_text then now_text, now_number = text, tonumber(text) end
  now = now_number
  if G.now and G.now > now then now = G.now end
  changed = false
  for i = 1, #RESETS do RESETS[i]() end
end

-- Ends a call: G matches what the call read or wrote unless a change was left unwritten.
local function settle_cache()
  if not hot_dirty and not settings_dirty then
    hot_cache, settings_cache = hot_read, settings_read
  end
end

-- The operations whose first argument is a user id: their records are read with the
-- globals.
local USER_OPERATIONS = {join = true, confirm = true, leave = true, kick = true,
                         heartbeat = true, find = true, poll = true, open = true}

-- Starts a call: binds the libraries, reads the globals and the records of the users the
-- call names (one MGET), and clears the state of the previous call. Answers an error
-- reply for a room written in another layout, or nil.
local function begin(args)
  if not call then
    call = redis.call
    floor = math.floor
    fmt = string.format
    pack = struct.pack
    unpack_struct = struct.unpack
    table_unpack = unpack
    select_ = select
    USER_PADDING = string.rep('\0', USER_LENGTH * 8)
    for i = 0, 64 do SMALL_NUMBERS[tostring(i)] = i end
    for _, name in ipairs(HOT_FIELDS) do GROUP[name] = 1 end
    for _, name in ipairs(SETTING_FIELDS) do GROUP[name] = 2 end
    for _, name in ipairs(COLD_FIELDS) do GROUP[name] = 3 end
    setmetatable(G, G_META)
  end
  PREFIX = args[1]
  CHANNEL_PREFIX = args[2]
  if PREFIX ~= keys_prefix then
    keys_prefix = PREFIX
    KEY_GLOBALS = PREFIX .. 'g'
    KEY_SETTINGS = PREFIX .. 's'
    KEY_COLD = PREFIX .. 'h'
    KEY_QUEUE = PREFIX .. 'q'
    KEY_TIMERS = PREFIX .. 't'
    KEY_DRAFTS = PREFIX .. 'D'
    KEY_CONNECTED = PREFIX .. 'C'
    KEY_RELEASES = PREFIX .. 'r'
    KEY_USER_PREFIX = PREFIX .. 'u:'
  end
  hot_dirty, settings_dirty, cold_dirty = false, false, false
  users = {}
  touched = {}
  prefetched = {}
  touched_raw = {}
  QUEUE_ADDS.key, QUEUE_ADDS.count = KEY_QUEUE, 0
  TIMER_ADDS.key, TIMER_ADDS.count = KEY_TIMERS, 0
  if cold_loaded then
    for _, name in ipairs(COLD_FIELDS) do G[name] = nil end
    cold_loaded = false
  end
  local values
  if args[3] ~= 'batch' then
    if USER_OPERATIONS[args[3]] then
      local id = args[5]
      values = call('MGET', KEY_GLOBALS, KEY_SETTINGS, user_key(id))
      prefetched[id] = values[3]
    else
      values = call('MGET', KEY_GLOBALS, KEY_SETTINGS)
    end
  else
    local keys = {KEY_GLOBALS, KEY_SETTINGS}
    local ids = {}
    local at = 5
    for _ = 1, count_of(args[4]) do
      if USER_OPERATIONS[args[at + 1]] then
        local id = args[at + 3]
        ids[#ids + 1] = id
        keys[#keys + 1] = user_key(id)
      end
      at = at + 1 + count_of(args[at])
    end
    values = call('MGET', table_unpack(keys))
    for i = 1, #ids do prefetched[ids[i]] = values[i + 2] end
  end
  local hot, settings = values[1], values[2]
  local previous_hot, previous_settings
  if PREFIX == cache_prefix then previous_hot, previous_settings = hot_cache, settings_cache end
  hot_cache, settings_cache, cache_prefix = nil, nil, PREFIX
  hot_read, settings_read = hot, settings
  if not hot or not settings then
    G.now, G.max = nil, nil  -- a room without settings (see op_init)
    return nil
  end
  if hot ~= previous_hot then
    if #hot ~= 16 * 8 or unpack_struct('<d', hot) ~= LAYOUT then
      hot_read = nil
      return redis.error_reply('WAITROOM_LAYOUT the keys under ' .. PREFIX ..
                                   ' were written by another version of waitroom; ' ..
                                   'use another key prefix or delete them')
    end
    unpack_hot(hot)
  end
  if settings ~= previous_settings then unpack_settings(settings) end
  return nil
end
