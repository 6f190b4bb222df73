-- waitroom's queue engine as one Redis script (DESIGN.md §5, issue 6), part 1 of 4: the
-- arguments, the keys, and the state as Lua tables with their dirty fields.
--
-- The four files under src/store/redis/lua/ are concatenated in this order (prelude,
-- render, engine, operations) and embedded into the binary by CMake twice: as a Redis
-- function library (FUNCTION LOAD, called by FCALL, Redis 7), and as a plain script
-- (EVALSHA, for an older Redis). Both end in run(args): one call is one operation of the
-- Store interface, named by args[1], and runs atomically: the timers that are due run
-- first, then the operation, then every change is written back and every notification is
-- published, all in the same call. So the Lua engine needs no lock and no lease: two
-- instances that call it at once are simply serialised by Redis.
--
-- Why a function library by default: a script runs its whole text at every call, which
-- creates every one of its ~100 local functions again (their closures), about 20 µs a call
-- here; a library runs its text once, when loaded, and each call only runs the operation.
--
-- The engine mirrors src/engine/engine.cpp step for step (the same transitions, the same
-- timer order, the same events), so that the randomised comparison test can apply one
-- operation sequence to both and expect the same states, positions and notifications.
--
-- Arguments: op, key prefix, channel prefix, now (Unix ms from the caller's Clock), then the
-- operation's own arguments. Time is never read from Redis: `now` is an argument, raised
-- to the largest `now` any caller has passed so far, so that two instances whose clocks
-- differ by a few milliseconds never move the room's time backwards.
--
-- Keys, all under the prefix:
--   g        string globals, packed: settings, pause, ticket/generation/timer counters,
--                   counts, statistics, the queue version and the store sequence
--   u:<id>   string one user record, packed (fields in USER_FIELDS)
--   q        zset   waiting users, score = ticket: ZRANK is the position, O(log N)
--   t        zset   armed timers, score = deadline (ms); member = 15-digit timer sequence,
--                   timer kind and user id, so that equal deadlines fire in sequence order;
--                   "L<instance>" members are the instances' stream leases
--   D, C     set    users in draft / connected (for get_users)
--   U        zset   every user id, score = its slot number (the engine's slab order)
--   F        list   free slot numbers (the engine's free list, reused last-in first-out)
--   r        list   the last 32 slot releases (ms), for the estimated wait
--   i:<inst> hash   the event streams an instance holds: stream token -> user id
-- Library functions, bound at the start of every call: a Redis function library may not
-- touch any global while it loads, only when one of its functions runs.
local call, floor, fmt, pack, unpack_struct, table_unpack, string_rep

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

-- The state of one call, set by begin(). Each part of the script that keeps state of its
-- own for the length of a call registers a function in RESETS that clears it.
local RESETS = {}
local ARGS, OP, PREFIX, CHANNEL_PREFIX, now
local KEY_GLOBALS, KEY_QUEUE, KEY_TIMERS, KEY_DRAFTS, KEY_CONNECTED, KEY_USERS, KEY_FREE_SLOTS
local KEY_RELEASES
local keys_prefix  -- the prefix the KEY_ names were built for (kept across calls)
-- Whether this call changed durable state (anything but proof of presence); the store
-- sequence moves only then, or when a notification goes out.
local changed = false

-- ---- globals ----------------------------------------------------------------------
--
-- The globals, and each user record, are stored packed (struct.pack, one double per field:
-- exact for integers up to 2^53): reading 39 fields costs one GET and one unpack, about a
-- tenth of an HGETALL turned into a Lua table, which is most of a join's time otherwise.
-- Settings: max (max_active_users), sess, draft, idle, pres (ms), miss (max_draft_misses),
-- soon (expiring_soon ms), rq (requeue policy, 1: front), renew (session renewal, 1: on),
-- ret (disconnected retention ms). State: now (the latest `now` seen), paused, nbt and nft
-- (next back and front tickets), ngen (next generation), tseq (next timer sequence), ver
-- (queue version), seq (store sequence), ndraft, nconn, allow (the cap allowance), nrel
-- (slot releases recorded), nslots (slots ever allocated), twait, tsess, send (total wait,
-- total session length, sessions ended), the counters c_*, and three that save a command
-- each on the hot paths: due (no timer is due before it: a lower bound of the timer set's
-- scores), nwait (the queue's length, hence the position of whoever joins at the back) and
-- nfree (the free slot list's length).
-- (The order of GLOBAL_FIELDS is the order of the packed fields; load_globals and
-- packed_globals spell it out.)
local GLOBAL_FIELDS = {'now', 'paused', 'nbt', 'nft', 'ngen', 'tseq', 'ver', 'seq', 'ndraft',
                       'nconn', 'allow', 'nrel', 'nslots', 'twait', 'tsess', 'send', 'c_joins',
                       'c_drafts', 'c_adm', 'c_leaves', 'c_kicks', 'c_rq', 'c_dto', 'c_sto',
                       'c_ito', 'c_ab', 'max', 'sess', 'draft', 'idle', 'pres', 'miss', 'soon',
                       'rq', 'renew', 'ret', 'due', 'nwait', 'nfree'}
local GLOBAL_FORMAT  -- '<' and one 'd' per field, built at the first call
local G = {}
local globals_dirty = false
-- Fields whose change is not a change of the room's state.
local VOLATILE_GLOBALS = {now = true, tseq = true, due = true}

local function gset(field, value)
  if G[field] ~= value then
    G[field] = value
    globals_dirty = true
    if not VOLATILE_GLOBALS[field] then changed = true end
  end
end

local function ginc(field)
  gset(field, G[field] + 1)
end

-- The fields are written out in GLOBAL_FIELDS's order below: one multiple assignment and
-- one call, with no table in between, is about twice as fast as a loop over the names.
local function load_globals()
  local packed = call('GET', KEY_GLOBALS)
  if not packed then
    G = {}  -- a room without settings (see op_init)
    return
  end
  -- The same table from call to call (a function library keeps it): filling its fields
  -- again costs no rehash.
  G.now, G.paused, G.nbt, G.nft, G.ngen, G.tseq, G.ver, G.seq, G.ndraft, G.nconn, G.allow, G.nrel,
      G.nslots, G.twait, G.tsess, G.send, G.c_joins, G.c_drafts, G.c_adm, G.c_leaves, G.c_kicks,
      G.c_rq, G.c_dto, G.c_sto, G.c_ito, G.c_ab, G.max, G.sess, G.draft, G.idle, G.pres, G.miss,
      G.soon, G.rq, G.renew, G.ret, G.due, G.nwait, G.nfree =
      unpack_struct(GLOBAL_FORMAT, packed)
end

local function packed_globals()
  return pack(GLOBAL_FORMAT, G.now, G.paused, G.nbt, G.nft, G.ngen, G.tseq, G.ver, G.seq,
              G.ndraft, G.nconn, G.allow, G.nrel, G.nslots, G.twait, G.tsess, G.send, G.c_joins,
              G.c_drafts, G.c_adm, G.c_leaves, G.c_kicks, G.c_rq, G.c_dto, G.c_sto, G.c_ito,
              G.c_ab, G.max, G.sess, G.draft, G.idle, G.pres, G.miss, G.soon, G.rq, G.renew, G.ret,
              G.due, G.nwait, G.nfree)
end

-- ---- user records -----------------------------------------------------------------
--
-- st status, rs reason, w warned, rn renewed, dm draft misses, os open streams, tk ticket,
-- gen generation, ja joined at, ls last seen, dl deadline, td total duration, ca confirmed
-- at, ss session start, da disconnected at, a0..a2 armed timer sequence per kind (0: none),
-- d0..d2 the deadline each was armed for, sl slot. Packed like the globals.
-- (load and save spell this order out.)
local USER_FIELDS = {'st', 'rs', 'w', 'rn', 'dm', 'os', 'tk', 'gen', 'ja', 'ls', 'dl', 'td',
                     'ca', 'ss', 'da', 'a0', 'a1', 'a2', 'd0', 'd1', 'd2', 'sl'}
local USER_FORMAT
-- Answers are strings of packed doubles (see numbers); a view is 8 of them.
local FORMATS = {}  -- n -> '<' and n 'd', built as needed
local VIEW_FORMAT, NO_VIEW
-- Proof of presence: not the room's state (the engine does not journal these either).
local PRESENCE_FIELDS = {ls = true, os = true, a1 = true, d1 = true}

local users = {}    -- id -> record, or false when known not to exist
local touched = {}  -- id -> record to write back

local function user_key(id)
  return PREFIX .. 'u:' .. id
end

local function load(id)
  local user = users[id]
  if user ~= nil then return user or nil end
  local packed = call('GET', user_key(id))
  if not packed then
    users[id] = false
    return nil
  end
  user = {id = id}
  user.st, user.rs, user.w, user.rn, user.dm, user.os, user.tk, user.gen, user.ja, user.ls, user.dl,
      user.td, user.ca, user.ss, user.da, user.a0, user.a1, user.a2, user.d0, user.d1, user.d2,
      user.sl =
      unpack_struct(USER_FORMAT, packed)
  users[id] = user
  return user
end

local function uset(user, field, value)
  if user[field] ~= value then
    user[field] = value
    touched[user.id] = user
    if not PRESENCE_FIELDS[field] then changed = true end
  end
end

-- Writes back every touched record and the globals: one MSET, or one per 500 records when a
-- call touched many (settings that re-arm everyone's timers): unpack and a command's
-- arguments are bounded by Lua's C stack.
local function save()
  local writes = {}
  for id, user in pairs(touched) do
    writes[#writes + 1] = user_key(id)
    writes[#writes + 1] = pack(USER_FORMAT, user.st, user.rs, user.w, user.rn, user.dm, user.os,
                               user.tk, user.gen, user.ja, user.ls, user.dl, user.td, user.ca,
                               user.ss, user.da, user.a0, user.a1, user.a2, user.d0, user.d1,
                               user.d2, user.sl)
    if #writes >= 1000 then
      call('MSET', table_unpack(writes))
      writes = {}
    end
  end
  touched = {}
  if globals_dirty then
    writes[#writes + 1] = KEY_GLOBALS
    writes[#writes + 1] = packed_globals()
    globals_dirty = false
  end
  if #writes > 0 then call('MSET', table_unpack(writes)) end
end

-- Numbers packed as an answer (C++: PackedReader): little-endian doubles, exact for
-- integers up to 2^53. Turning a Lua table into a Redis reply costs more than the whole
-- rest of a small operation (Redis inspects every nested table for error and status fields),
-- and the caller parses one string faster than an array of replies.
local function numbers(...)
  local count = select('#', ...)
  local format = FORMATS[count]
  if not format then
    format = '<' .. string_rep('d', count)
    FORMATS[count] = format
  end
  return pack(format, ...)
end

-- Inside a batch (see run): the operations' changes are written back once, at its end.
local in_batch = false

-- Starts one operation (of a call, or of a batch): its arguments, its `now` (never behind
-- the latest one seen), and a clean slate for its own state.
local function begin_operation(args)
  ARGS = args
  OP = args[1]
  now = tonumber(args[4])
  if G.now and G.now > now then now = G.now end
  changed = false
  for _, reset in ipairs(RESETS) do reset() end
end

-- Starts a call: binds the libraries, reads the arguments and the globals, and clears the
-- state of the previous call.
local function begin(args)
  call = redis.call
  floor = math.floor
  fmt = string.format
  pack = struct.pack
  unpack_struct = struct.unpack
  table_unpack = unpack
  if not GLOBAL_FORMAT then
    string_rep = string.rep
    GLOBAL_FORMAT = '<' .. string_rep('d', #GLOBAL_FIELDS)
    USER_FORMAT = '<' .. string_rep('d', #USER_FIELDS)
    VIEW_FORMAT = '<dddddddd'
    NO_VIEW = pack(VIEW_FORMAT, -1, 0, 0, 0, 0, 0, 0, 0)
  end
  PREFIX = args[2]
  CHANNEL_PREFIX = args[3]
  if PREFIX ~= keys_prefix then
    keys_prefix = PREFIX
    KEY_GLOBALS = PREFIX .. 'g'
    KEY_QUEUE = PREFIX .. 'q'
    KEY_TIMERS = PREFIX .. 't'
    KEY_DRAFTS = PREFIX .. 'D'
    KEY_CONNECTED = PREFIX .. 'C'
    KEY_USERS = PREFIX .. 'U'
    KEY_FREE_SLOTS = PREFIX .. 'F'
    KEY_RELEASES = PREFIX .. 'r'
  end
  globals_dirty = false
  users = {}
  touched = {}
  load_globals()
  begin_operation(args)
end
