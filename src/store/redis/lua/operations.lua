-- Part 4 of 4: the operations of the Store interface (src/store/store.hpp), one per name,
-- each the counterpart of an Engine or EmbeddedStore method. A writing operation
-- ends with finish(): the store sequence moves when the state changed or a notification
-- goes out, the changes are written back (at the end of a batch, inside one), and each
-- notification is published on CHANNEL_PREFIX .. user_id with the sequence as a last field
-- ("seq"), which the subscribing instance strips before the message reaches a stream.
--
-- Every answer is a string of packed numbers (see numbers in the prelude): now (the instant
-- used), the store sequence, the earliest deadline this call armed (-1: none), the count of
-- measurements and as many pairs of kind and length (waits before a draft and session
-- lengths, for the calling instance's histograms); the operation's own values follow, also
-- packed (views as 8 numbers each). The two answers that carry text (snapshot, check) are an
-- array of that string and the text.

-- engine::Settings, in the order the store passes and reads them: max_active_users, then
-- session, draft, idle, presence (ms), max_draft_misses, expiring_soon (ms), requeue policy
-- (1: front), session renewal (1: on), disconnected retention (ms).
local SETTING_NAMES = {'max', 'sess', 'draft', 'idle', 'pres', 'miss', 'soon', 'rq', 'renew',
                       'ret'}

-- The operations by name (see operate), each given its first argument.
local OPERATIONS = {}

local function settings_from()
  local out = {}
  for i, name in ipairs(SETTING_NAMES) do
    local value = tonumber(ARGS[BASE + i])
    if not value then return nil end
    out[name] = value
  end
  return out
end

local function answer_head(sequence, earliest)
  if measurement_count == 0 then return numbers(now, sequence, earliest, 0) end
  return numbers(now, sequence, earliest, measurement_count / 2) ..
             numbers(table_unpack(measurements, 1, measurement_count))
end

-- Ends a writing operation: the store sequence moves when the state changed or a
-- notification goes out, the changes are written back (at the end of the batch, inside
-- one), and the notifications are published.
local function settle()
  if event_count > 0 or changed then gset('seq', G.seq + 1) end
  -- The latest `now` is kept with any other change of the globals; a mere status poll (a
  -- presence touch) does not rewrite them for it.
  if hot_dirty or settings_dirty or cold_dirty then gset('now', now) end
  if not in_batch then save() end
  local sequence = G.seq
  for i = 1, event_count, 5 do
    call('PUBLISH', CHANNEL_PREFIX .. events[i], message_of(i, sequence))
  end
end

-- A writing operation's answer; `body`: its own values, packed.
local function finish(body)
  settle()
  if body then return answer_head(G.seq, earliest_armed or -1) .. body end
  return answer_head(G.seq, earliest_armed or -1)
end

-- The same, its own values given as numbers: one pack for the head and them.
local function finish_numbers(...)
  settle()
  if measurement_count > 0 then return answer_head(G.seq, earliest_armed or -1) .. numbers(...) end
  return numbers(now, G.seq, earliest_armed or -1, 0, ...)
end

-- A read: nothing written, nothing published.
local function answer(body)
  if body then return numbers(now, G.seq, -1, 0) .. body end
  return numbers(now, G.seq, -1, 0)
end

-- Who acts: the second argument is '*' for an actor that may act on any generation, else the
-- generations named by the caller's tickets, separated by spaces ('' for none). Mirrors
-- store::Actor::may_act_on and EmbeddedStore::permitted, timers first so that the record
-- checked is the one acted on.
local function permitted(id, creates)
  local actor = ARGS[BASE + 2]
  if actor == '*' then return true end
  run_timers()
  local user = load(id)
  if not user then return creates or actor ~= '' end
  local generation = user[GEN]
  for held in actor:gmatch('%d+') do
    if tonumber(held) == generation then return true end
  end
  return false
end

-- The fast paths below do, in straight-line code, what the general code does in their
-- case, with the same effects in the same order; the randomised comparison holds both to the
-- engine. They apply when no timer is due (so the timers would run nothing) and, for a
-- join, when no slot is free (so no draft would be offered: the join is a plain wait).

-- The first number of join_new's answer, where the general answer has `forbidden` (0 or 1).
local NEW_WAITING = -3

-- A join of a user id with no record: new_user, enqueue at the back and arm the presence
-- timer (sync_timers: a waiting user has no state or warning timer). The record is written
-- packed as it is: status waiting, reason none, generation, ticket, joined and last seen now,
-- the presence timer, nothing else; a later operation of the same call unpacks it if needed.
local function join_new(id)
  local generation, ticket, position = G.ngen, G.nbt, G.nwait + 1
  G.ngen = generation + 1
  G.nusers = G.nusers + 1
  G.c_joins = G.c_joins + 1
  G.nbt = ticket + 1
  G.nwait = position
  hot_dirty = true
  changed = true
  queue_add(ticket, id)
  queue_stamp = queue_stamp + 1
  remember_position(id, position)
  local presence, packed = G.pres, nil
  if presence > 0 then
    local sequence, deadline = G.tseq, now + presence
    G.tseq = sequence + 1
    timer_add(deadline, timer_member(sequence, T_ACTIVITY, id))
    if not earliest_armed or deadline < earliest_armed then earliest_armed = deadline end
    if deadline < G.due then G.due = deadline end
    packed = pack('<dddddddd', WAITING, R_NONE, generation, ticket, now, now, sequence, deadline)
  else
    packed = pack('<dddddd', WAITING, R_NONE, generation, ticket, now, now)
  end
  users[id] = nil
  prefetched[id] = packed
  touched_raw[id] = packed
  local wait = estimate(position)
  -- What settle() does in this case: the state changed, the store sequence moves, the
  -- notification goes out with it.
  local sequence = G.seq + 1
  G.seq = sequence
  G.now = now
  if not in_batch then save() end
  call('PUBLISH', CHANNEL_PREFIX .. id,
       fmt(WAITING_FORMAT, id, position, estimate_seconds(wait), sequence))
  -- A short answer for this case (C++: RedisStore::join): no record before, and after it
  -- a wait with reason none and no draft missed, at this position and generation.
  return pack('<dddddddd', now, sequence, earliest_armed or -1, 0, NEW_WAITING, position,
              generation, wait)
end

-- join: forbidden, then created, the view before (status -1 alone: none) and the view after;
-- or NEW_WAITING, the position, generation and estimated wait of a new user id waiting.

function OPERATIONS.join(id)
  if not permitted(id, true) then return finish_numbers(1) end
  if now < G.due and (G.paused == 1 or G.ndraft + G.nconn >= G.max) and event_count == 0 and
      not load(id) then
    return join_new(id)
  end
  run_timers()
  local user = load(id)
  local before  -- nil: a new user id
  if user then
    before = view(user)
    local status = user[ST]
    if status ~= DISCONNECTED then
      -- A refreshed page or a second tab: same place, and proof that they are here.
      if status == WAITING then uset(user, LS, now) end
      sync_timers(user)
      return finish(numbers(0, 0) .. before .. view(user))
    end
  else
    user = new_user(id)
  end
  ginc('c_joins')
  uset(user, DM, 0)
  uset(user, RS, R_NONE)
  uset(user, JA, now)
  uset(user, LS, now)
  enqueue(user, false)
  local pos = position(user)
  EMIT.waiting(id, pos, estimate(pos))
  sync_timers(user)
  offer_drafts()
  if not before and user[ST] == WAITING then
    -- The common case in one pack: a new user id waiting (what view() would pack).
    local after = position(user)
    return finish_numbers(0, 1, NO_VIEW_STATUS, WAITING, R_NONE, after, 0, 0, 0, user[GEN],
                          estimate(after))
  end
  return finish(numbers(0, 1) .. (before or numbers(NO_VIEW_STATUS)) .. view(user))
end

-- Outcome codes as engine::Outcome: 0 ok, 1 unknown user, 2 wrong state.
-- confirm: forbidden, then the outcome and the view after.
function OPERATIONS.confirm(id)
  if not permitted(id, false) then return finish_numbers(1) end
  run_timers()
  local user = load(id)
  if not user then return finish_numbers(0, 1, NO_VIEW_STATUS) end
  if user[ST] ~= DRAFT then return finish(numbers(0, 2) .. view(user)) end
  gset('ndraft', G.ndraft - 1)
  gset('nconn', G.nconn + 1)
  call('SREM', KEY_DRAFTS, id)
  call('SADD', KEY_CONNECTED, id)
  ginc('c_adm')
  uset(user, ST, CONNECTED)
  uset(user, RS, R_NONE)
  uset(user, DM, 0)
  uset(user, W, 0)
  uset(user, RN, 0)
  uset(user, CA, now)
  uset(user, SS, now)
  uset(user, LS, now)
  uset(user, DL, now + G.sess)
  uset(user, TD, G.sess)
  EMIT.connected(id, user[TD], user[DL])
  sync_timers(user)
  return finish(numbers(0, 0) .. view(user))
end

-- leave and kick: forbidden, outcome, previous status.
local function op_end(id, reason)
  run_timers()
  local user = load(id)
  if not user then return finish_numbers(0, 1, DISCONNECTED) end
  local previous = user[ST]
  if previous == DISCONNECTED then return finish_numbers(0, 0, previous) end
  ginc(reason == R_KICKED and 'c_kicks' or 'c_leaves')
  disconnect(user, reason)
  offer_drafts()
  return finish_numbers(0, 0, previous)
end

-- heartbeat: forbidden, outcome, time left.
function OPERATIONS.heartbeat(id)
  if not permitted(id, false) then return finish_numbers(1, 0, 0) end
  run_timers()
  local user = load(id)
  if not user then return finish_numbers(0, 1, 0) end
  if user[ST] ~= CONNECTED then return finish_numbers(0, 2, 0) end
  uset(user, LS, now)
  if G.renew == 1 then
    -- Renewal restarts the session with the length it was confirmed with.
    uset(user, SS, now)
    uset(user, DL, now + user[TD])
    uset(user, RN, 1)
    uset(user, W, 0)
  end
  sync_timers(user)
  return finish_numbers(0, 0, user[DL] - now)
end

-- A status poll of a waiting user whose record this call has not loaded yet and whose
-- activity timer needs nothing (armed, or not wanted: a stream is open or presence is off):
-- the last-seen instant is patched into the packed record, and the rest of it is not even
-- unpacked. A field past the record's end is zero.
local function field_of(packed, field)
  if #packed < field * 8 then return 0 end
  return (unpack_struct('<d', packed, (field - 1) * 8 + 1))
end

local function poll_waiting(id, packed)
  local status, reason, generation, _, _, seen = unpack_struct('<dddddd', packed)
  if status ~= WAITING then return nil end
  if field_of(packed, A1) == 0 and field_of(packed, OS) == 0 and G.pres > 0 then return nil end
  local misses = field_of(packed, DM)
  if seen ~= now then
    packed = packed:sub(1, (LS - 1) * 8) .. pack('<d', now) .. packed:sub(LS * 8 + 1)
    prefetched[id] = packed
    touched_raw[id] = packed
  end
  local pos = position_of(id)
  -- What settle() does in this case: nothing changed but proof of presence, nothing to
  -- publish; the latest `now` is kept if the globals are written anyway.
  if (hot_dirty or settings_dirty or cold_dirty) and G.now ~= now then
    G.now = now
    hot_dirty = true
  end
  if not in_batch then save() end
  return pack('<dddddddddddd', now, G.seq, -1, 0, WAITING, reason, pos, 0, 0, misses, generation,
              estimate(pos))
end

function OPERATIONS.poll(id)
  if now < G.due and users[id] == nil then
    local packed = prefetched[id]
    if packed and #packed >= LS * 8 then
      local answered = poll_waiting(id, packed)
      if answered then return answered end
    end
  end
  run_timers()
  local user = load(id)
  if user and user[ST] ~= DISCONNECTED then
    uset(user, LS, now)
    -- Only an activity timer that is not armed at all needs a member; a later deadline is
    -- picked up when the armed one comes due.
    if user[A1] == 0 then sync_timer(user, T_ACTIVITY) end
  end
  return finish(view_of(user))
end

-- A stream opened: arguments id, actor, instance, token, lease (ms, 0: none).
-- open: forbidden, then whether the stream was registered and the view.
function OPERATIONS.open(id)
  if not permitted(id, false) then return finish_numbers(1) end
  run_timers()
  local user = load(id)
  if not user then return finish_numbers(0, 0, NO_VIEW_STATUS) end
  local instance = ARGS[BASE + 3]
  stream_change_core(user, true, 1)
  call('HSET', held_key(instance), ARGS[BASE + 4], id)
  local lease = tonumber(ARGS[BASE + 5])
  if lease > 0 then arm_lease(instance, now + lease) end
  return finish(numbers(0, 1) .. view(user))
end

-- Streams closed: arguments the instance, then pairs of token ('' when the instance
-- registered none for the user) and user id.
function OPERATIONS.close()
  run_timers()
  local key = held_key(ARGS[BASE + 1])
  for i = BASE + 2, LAST - 1, 2 do
    local token, id = ARGS[i], ARGS[i + 1]
    local count = 1
    -- A token the instance's lease already released was counted closed then.
    if token ~= '' and call('HDEL', key, token) == 0 then count = 0 end
    local user = load(id)
    if user then stream_change_core(user, false, count) end
  end
  return finish()
end

function OPERATIONS.lease()
  local instance = ARGS[BASE + 1]
  local existed = timer_call('ZSCORE', 'L' .. instance) and 1 or 0
  arm_lease(instance, now + tonumber(ARGS[BASE + 2]))
  return finish_numbers(existed)
end

function OPERATIONS.release()
  timer_call('ZREM', 'L' .. ARGS[BASE + 1])
  release_instance(ARGS[BASE + 1])
  return finish()
end

-- positions: the queue version, then one view per id.
function OPERATIONS.positions()
  local views = {numbers(G.ver)}
  for i = BASE + 1, LAST do views[#views + 1] = view_of(load(ARGS[i])) end
  return answer(table.concat(views))
end

function OPERATIONS.metrics()
  return answer(numbers(G.nwait, G.ndraft, G.nconn, G.max, G.paused, G.twait, G.tsess, G.send,
                        G.c_joins, G.c_drafts, G.c_adm, G.c_leaves, G.c_kicks, G.c_rq, G.c_dto,
                        G.c_sto, G.c_ito, G.c_ab, G.nusers))
end

-- settings: paused, then the settings in SETTING_NAMES's order.
function OPERATIONS.settings()
  local out = {G.paused}
  for _, name in ipairs(SETTING_NAMES) do out[#out + 1] = G[name] end
  return answer(numbers(table_unpack(out)))
end

local function apply_settings(settings)
  local timers_changed = settings.idle ~= G.idle or settings.pres ~= G.pres or
                             settings.soon ~= G.soon or settings.ret ~= G.ret
  for _, name in ipairs(SETTING_NAMES) do gset(name, settings[name]) end
  set_cap(settings.max)
  if timers_changed then resync_all() end
  -- A lower max_draft_misses applies at the next miss, not retroactively.
  offer_drafts()
end

function OPERATIONS.update()
  local settings = settings_from()
  if not settings then return redis.error_reply('WAITROOM_BAD_ARGUMENTS settings') end
  run_timers()
  apply_settings(settings)
  return finish()
end

function OPERATIONS.pause()
  run_timers()
  gset('paused', tonumber(ARGS[BASE + 1]))
  offer_drafts()
  return finish_numbers(G.paused)
end

function OPERATIONS.advance()
  run_timers()
  -- After run_timers, G.due is the earliest score in the set, or 2^53 when it is empty.
  if G.due >= 2 ^ 53 then return finish_numbers(-1) end
  local head = timer_call('ZRANGE', 0, 0, 'WITHSCORES')
  return finish_numbers(head[2] and tonumber(head[2]) or -1)
end

-- The settings a starting instance was configured with: they create the room, or replace
-- the stored ones when they differ (the configuration given at start-up wins, as with the
-- embedded store). Answers 1 for a new room, 2 for replaced settings, 0 otherwise.
function OPERATIONS.init()
  local settings = settings_from()
  if not settings then return redis.error_reply('WAITROOM_BAD_ARGUMENTS settings') end
  if not G.max then
    local zero = {'now', 'seq', 'nwait', 'nusers', 'due', 'ndraft', 'nconn', 'ver', 'c_joins',
                  'nrel', 'oldrel', 'paused', 'nft', 'twait', 'tsess', 'send', 'c_drafts',
                  'c_adm', 'c_leaves', 'c_kicks', 'c_rq', 'c_dto', 'c_sto', 'c_ito', 'c_ab'}
    for _, name in ipairs(zero) do gset(name, 0) end
    gset('layout', LAYOUT)
    gset('nbt', 1)
    gset('ngen', 1)
    gset('tseq', 1)
    for _, name in ipairs(SETTING_NAMES) do gset(name, settings[name]) end
    gset('allow', settings.max)
    -- Every field is written, whatever its value was.
    hot_dirty, settings_dirty, cold_dirty = true, true, true
    return finish_numbers(1)
  end
  for _, name in ipairs(SETTING_NAMES) do
    if settings[name] ~= G[name] then
      run_timers()
      apply_settings(settings)
      return finish_numbers(2)
    end
  end
  return finish_numbers(0)
end

-- Every invariant of DESIGN.md §2 and the indexes against each other, O(N): for tests.
-- Answers '' or the first violation.
local function op_check()
  local counts = {[WAITING] = 0, [DRAFT] = 0, [CONNECTED] = 0, [DISCONNECTED] = 0}
  local armed = 0
  local records = all_users()
  for _, user in ipairs(records) do
    local id, status = user[ID], user[ST]
    counts[status] = counts[status] + 1
    if status == WAITING and tonumber(queue_call('ZSCORE', id)) ~= user[TK] then
      return 'waiting user ' .. id .. ' not queued with its ticket'
    end
    if status ~= WAITING and queue_call('ZSCORE', id) then
      return id .. ' is queued but not waiting'
    end
    if (status == DRAFT) ~= (call('SISMEMBER', KEY_DRAFTS, id) == 1) then
      return 'draft set disagrees on ' .. id
    end
    if (status == CONNECTED) ~= (call('SISMEMBER', KEY_CONNECTED, id) == 1) then
      return 'connected set disagrees on ' .. id
    end
    if status == CONNECTED then
      if user[DL] ~= user[SS] + user[TD] then return 'session of ' .. id .. ' is not capped' end
      if user[RN] == 0 and user[SS] ~= user[CA] then return 'session of ' .. id .. ' extended' end
    end
    for kind = 0, 2 do
      local want = desired(user, kind)
      local sequence = user[ARMED_SEQUENCE[kind]]
      local timer = 'timer ' .. kind .. ' of ' .. id
      if want and sequence == 0 then return timer .. ' not armed' end
      if not want and sequence ~= 0 then return timer .. ' armed for nothing' end
      if want then
        armed = armed + 1
        if user[ARMED_DEADLINE[kind]] > want then return timer .. ' late' end
        local score = timer_call('ZSCORE', timer_member(sequence, kind, id))
        if tonumber(score) ~= user[ARMED_DEADLINE[kind]] then
          return timer .. ' missing from the set'
        end
      end
    end
  end
  if #records ~= G.nusers then return 'user count differs' end
  if queue_call('ZCARD') ~= counts[WAITING] or G.nwait ~= counts[WAITING] then
    return 'queue size differs'
  end
  if call('SCARD', KEY_DRAFTS) ~= counts[DRAFT] or G.ndraft ~= counts[DRAFT] then
    return 'draft count differs'
  end
  if call('SCARD', KEY_CONNECTED) ~= counts[CONNECTED] or G.nconn ~= counts[CONNECTED] then
    return 'connected count differs'
  end
  local head = timer_call('ZRANGE', 0, 0, 'WITHSCORES')
  if head[2] and tonumber(head[2]) < G.due then return 'a timer is earlier than due' end
  local members = timer_call('ZRANGE', 0, -1)
  local leases = 0
  for _, member in ipairs(members) do
    if member:byte(1) == 76 then leases = leases + 1 end
  end
  if #members - leases ~= armed then
    return 'timer set holds ' .. (#members - leases) .. ' timers, ' .. armed .. ' armed'
  end
  local releases = call('LRANGE', KEY_RELEASES, 0, 0)
  if releases[1] and tonumber(releases[1]) ~= G.oldrel then return 'oldest release differs' end
  if G.allow < G.max then return 'cap allowance below the cap' end
  if occupied() > G.allow then return 'active+draft exceeds the cap' end
  if G.paused == 0 and occupied() < G.max and counts[WAITING] > 0 then
    return 'a slot is free while users wait'
  end
  return ''
end

function OPERATIONS.leave(id)
  if not permitted(id, false) then return finish_numbers(1, 0, DISCONNECTED) end
  return op_end(id, R_LEFT)
end

function OPERATIONS.kick(id)
  return op_end(id, R_KICKED)
end

function OPERATIONS.find(id)
  return answer(view_of(load(id)))
end

function OPERATIONS.version()
  return answer(numbers(G.ver))
end

function OPERATIONS.snapshot()
  return {answer(), queue_call('ZRANGE', 0, -1), call('SMEMBERS', KEY_DRAFTS),
          call('SMEMBERS', KEY_CONNECTED)}
end

function OPERATIONS.check()
  return {answer(), op_check()}
end

-- The operation named by OP, with ARGS.
local function operate()
  local operation = OPERATIONS[OP]
  if not operation then return redis.error_reply('WAITROOM_BAD_OPERATION ' .. tostring(OP)) end
  return operation(ARGS[BASE + 1])
end

-- One call: one operation, or a batch of them. The library's function and the script's
-- body both call this (see embed_lua.cmake).
--
-- A batch runs the operations one after the other, each exactly as if called alone (its own
-- `now`, timers, notifications, store sequence and answer), and writes back once at the end.
-- The store sends one when several operations wait for the same connection: the cost of a
-- call (reading the globals, writing them back, the call itself) is then shared.
local function run(args)
  local refused = begin(args)
  if refused then return refused end
  if args[3] ~= 'batch' then
    begin_operation(args, 4, #args)
    if not G.max and OP ~= 'init' then
      return redis.error_reply('WAITROOM_UNINITIALIZED the room has no settings (run init)')
    end
    local answered = operate()
    settle_cache()
    return answered
  end
  if not G.max then
    return redis.error_reply('WAITROOM_UNINITIALIZED the room has no settings (run init)')
  end
  local answers = {}
  local at = 5
  in_batch = true
  for index = 1, count_of(args[4]) do
    local count = count_of(args[at])
    begin_operation(args, at + 2, at + count)
    answers[index] = operate()
    at = at + 1 + count
  end
  in_batch = false
  save()
  settle_cache()
  return answers
end
