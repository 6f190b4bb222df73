-- Part 4 of 4: the operations of the Store interface (src/store/store.hpp), one per value of
-- args[1], each the counterpart of an Engine or EmbeddedStore method. A writing operation
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

local function settings_from(first)
  local out = {}
  for i, name in ipairs(SETTING_NAMES) do
    local value = tonumber(ARGS[first + i - 1])
    if not value then return nil end
    out[name] = value
  end
  return out
end

local function answer_head(sequence, earliest)
  local count = #measurements
  if count == 0 then return numbers(now, sequence, earliest, 0) end
  return numbers(now, sequence, earliest, count / 2) .. numbers(table_unpack(measurements))
end

-- A writing operation's answer; `body`: its own values, packed.
local function finish(body)
  if #events > 0 or changed then gset('seq', G.seq + 1) end
  -- The latest `now` is kept with any other change of the globals; a mere status poll (a
  -- presence touch) does not rewrite them for it.
  if globals_dirty then gset('now', now) end
  if not in_batch then save() end
  local tail = ',"seq":' .. fmt('%d', G.seq) .. '}'
  for _, event in ipairs(events) do
    call('PUBLISH', CHANNEL_PREFIX .. event[1], event[2] .. tail)
  end
  return answer_head(G.seq, earliest_armed or -1) .. (body or '')
end

-- A read: nothing written, nothing published.
local function answer(body)
  return numbers(now, G.seq, -1, 0) .. (body or '')
end

-- Who acts: ARGS[first] is 1 for an actor that may act on any generation, then up to two
-- generations named by the caller's tickets ('' for none). Mirrors store::Actor and
-- EmbeddedStore::permitted, timers first so that the record checked is the one acted on.
local function permitted(id, first, creates)
  if ARGS[first] == '1' then return true end
  local held = {}
  for i = first + 1, first + 2 do
    if ARGS[i] ~= '' then held[#held + 1] = tonumber(ARGS[i]) end
  end
  run_timers()
  local user = load(id)
  if not user then return creates or #held > 0 end
  for _, generation in ipairs(held) do
    if generation == user.gen then return true end
  end
  return false
end

-- join: forbidden, then created, the view before (NO_VIEW: none) and the view after.
local function op_join(id)
  if not permitted(id, 6, true) then return finish(numbers(1)) end
  run_timers()
  local user = load(id)
  local before = NO_VIEW
  if user then
    before = view(user)
    if user.st ~= DISCONNECTED then
      -- A refreshed page or a second tab: same place, and proof that they are here.
      if user.st == WAITING then uset(user, 'ls', now) end
      sync_timers(user)
      return finish(numbers(0, 0) .. before .. view(user))
    end
  else
    user = new_user(id)
  end
  ginc('c_joins')
  uset(user, 'dm', 0)
  uset(user, 'rs', R_NONE)
  uset(user, 'ja', now)
  uset(user, 'ls', now)
  enqueue(user, false)
  local pos = position(user)
  emit(id, waiting_message(id, pos, estimate(pos)))
  sync_timers(user)
  offer_drafts()
  return finish(numbers(0, 1) .. before .. view(user))
end

-- Outcome codes as engine::Outcome: 0 ok, 1 unknown user, 2 wrong state.
-- confirm: forbidden, then the outcome and the view after.
local function op_confirm(id)
  if not permitted(id, 6, false) then return finish(numbers(1)) end
  run_timers()
  local user = load(id)
  if not user then return finish(numbers(0, 1) .. NO_VIEW) end
  if user.st ~= DRAFT then return finish(numbers(0, 2) .. view(user)) end
  gset('ndraft', G.ndraft - 1)
  gset('nconn', G.nconn + 1)
  call('SREM', KEY_DRAFTS, id)
  call('SADD', KEY_CONNECTED, id)
  ginc('c_adm')
  uset(user, 'st', CONNECTED)
  uset(user, 'rs', R_NONE)
  uset(user, 'dm', 0)
  uset(user, 'w', 0)
  uset(user, 'rn', 0)
  uset(user, 'ca', now)
  uset(user, 'ss', now)
  uset(user, 'ls', now)
  uset(user, 'dl', now + G.sess)
  uset(user, 'td', G.sess)
  emit(id, connected_message(id, user.td, user.dl))
  sync_timers(user)
  return finish(numbers(0, 0) .. view(user))
end

-- leave and kick: forbidden, outcome, previous status.
local function op_end(id, reason)
  run_timers()
  local user = load(id)
  if not user then return finish(numbers(0, 1, DISCONNECTED)) end
  local previous = user.st
  if previous == DISCONNECTED then return finish(numbers(0, 0, previous)) end
  ginc(reason == R_KICKED and 'c_kicks' or 'c_leaves')
  disconnect(user, reason)
  offer_drafts()
  return finish(numbers(0, 0, previous))
end

-- heartbeat: forbidden, outcome, time left.
local function op_heartbeat(id)
  if not permitted(id, 6, false) then return finish(numbers(1, 0, 0)) end
  run_timers()
  local user = load(id)
  if not user then return finish(numbers(0, 1, 0)) end
  if user.st ~= CONNECTED then return finish(numbers(0, 2, 0)) end
  uset(user, 'ls', now)
  if G.renew == 1 then
    -- Renewal restarts the session with the length it was confirmed with.
    uset(user, 'ss', now)
    uset(user, 'dl', now + user.td)
    uset(user, 'rn', 1)
    uset(user, 'w', 0)
  end
  sync_timers(user)
  return finish(numbers(0, 0, user.dl - now))
end

local function op_poll(id)
  run_timers()
  local user = load(id)
  if user and user.st ~= DISCONNECTED then
    uset(user, 'ls', now)
    -- Only an activity timer that is not armed at all needs a member; a later deadline is
    -- picked up when the armed one comes due.
    if user.a1 == 0 then sync_timer(user, T_ACTIVITY) end
  end
  return finish(view_of(user))
end

-- A stream opened on instance ARGS[9] (token ARGS[10]; lease ARGS[11] ms, 0: none).
-- open: forbidden, then whether the stream was registered and the view.
local function op_open(id)
  if not permitted(id, 6, false) then return finish(numbers(1)) end
  run_timers()
  local user = load(id)
  if not user then return finish(numbers(0, 0) .. NO_VIEW) end
  local instance = ARGS[9]
  stream_change_core(user, true, 1)
  call('HSET', held_key(instance), ARGS[10], id)
  local lease = tonumber(ARGS[11])
  if lease > 0 then arm_lease(instance, now + lease) end
  return finish(numbers(0, 1) .. view(user))
end

-- Streams closed on instance ARGS[5]: pairs of token ('' when the instance registered none
-- for the user) and user id from ARGS[6].
local function op_close()
  run_timers()
  local key = held_key(ARGS[5])
  for i = 6, #ARGS - 1, 2 do
    local token, id = ARGS[i], ARGS[i + 1]
    local count = 1
    -- A token the instance's lease already released was counted closed then.
    if token ~= '' and call('HDEL', key, token) == 0 then count = 0 end
    local user = load(id)
    if user then stream_change_core(user, false, count) end
  end
  return finish()
end

local function op_lease()
  local member = 'L' .. ARGS[5]
  local existed = call('ZSCORE', KEY_TIMERS, member) and 1 or 0
  arm_lease(ARGS[5], now + tonumber(ARGS[6]))
  return finish(numbers(existed))
end

local function op_release()
  call('ZREM', KEY_TIMERS, 'L' .. ARGS[5])
  release_instance(ARGS[5])
  return finish()
end

-- positions: the queue version, then one view per id.
local function op_positions()
  local views = {numbers(G.ver)}
  for i = 5, #ARGS do views[#views + 1] = view_of(load(ARGS[i])) end
  return answer(table.concat(views))
end

local function op_metrics()
  return answer(numbers(G.nwait, G.ndraft, G.nconn, G.max, G.paused, G.twait, G.tsess, G.send,
                        G.c_joins, G.c_drafts, G.c_adm, G.c_leaves, G.c_kicks, G.c_rq, G.c_dto,
                        G.c_sto, G.c_ito, G.c_ab, call('ZCARD', KEY_USERS)))
end

-- settings: paused, then the settings in SETTING_NAMES's order.
local function op_settings()
  local out = {G.paused}
  for _, name in ipairs(SETTING_NAMES) do out[#out + 1] = G[name] end
  return answer(numbers(table_unpack(out)))
end

local function apply_settings(settings)
  local timers_changed = settings.idle ~= G.idle or settings.pres ~= G.pres or
                             settings.soon ~= G.soon or settings.ret ~= G.ret
  for name, value in pairs(settings) do gset(name, value) end
  set_cap(settings.max)
  if timers_changed then resync_all() end
  -- A lower max_draft_misses applies at the next miss, not retroactively.
  offer_drafts()
end

local function op_update()
  local settings = settings_from(5)
  if not settings then return redis.error_reply('WAITROOM_BAD_ARGUMENTS settings') end
  run_timers()
  apply_settings(settings)
  return finish()
end

local function op_pause()
  run_timers()
  gset('paused', tonumber(ARGS[5]))
  offer_drafts()
  return finish(numbers(G.paused))
end

local function op_advance()
  run_timers()
  -- After run_timers, G.due is the earliest score in the set, or 2^53 when it is empty.
  if G.due >= 2 ^ 53 then return finish(numbers(-1)) end
  local head = call('ZRANGE', KEY_TIMERS, 0, 0, 'WITHSCORES')
  return finish(numbers(head[2] and tonumber(head[2]) or -1))
end

-- The settings a starting instance was configured with: they create the room, or replace
-- the stored ones when they differ (the configuration given at start-up wins, as with the
-- embedded store). Answers 1 for a new room, 2 for replaced settings, 0 otherwise.
local function op_init()
  local settings = settings_from(5)
  if not settings then return redis.error_reply('WAITROOM_BAD_ARGUMENTS settings') end
  if not G.max then
    local zero = {'paused', 'nft', 'twait', 'tsess', 'send', 'ver', 'seq', 'ndraft', 'nconn',
                  'nrel', 'nslots', 'c_joins', 'c_drafts', 'c_adm', 'c_leaves', 'c_kicks',
                  'c_rq', 'c_dto', 'c_sto', 'c_ito', 'c_ab', 'due', 'nwait', 'nfree'}
    for _, name in ipairs(zero) do gset(name, 0) end
    gset('nbt', 1)
    gset('ngen', 1)
    gset('tseq', 1)
    for name, value in pairs(settings) do gset(name, value) end
    gset('allow', settings.max)
    return finish(numbers(1))
  end
  for _, name in ipairs(SETTING_NAMES) do
    if settings[name] ~= G[name] then
      run_timers()
      apply_settings(settings)
      return finish(numbers(2))
    end
  end
  return finish(numbers(0))
end

-- Every invariant of DESIGN.md §2 and the indexes against each other, O(N): for tests.
-- Answers '' or the first violation.
local function op_check()
  local counts = {[WAITING] = 0, [DRAFT] = 0, [CONNECTED] = 0, [DISCONNECTED] = 0}
  local armed = 0
  local ids = call('ZRANGE', KEY_USERS, 0, -1, 'WITHSCORES')
  for i = 1, #ids, 2 do
    local user = load(ids[i])
    if not user then return 'indexed user ' .. ids[i] .. ' has no record' end
    if user.sl ~= tonumber(ids[i + 1]) then return 'slot of ' .. user.id .. ' differs' end
    counts[user.st] = counts[user.st] + 1
    if user.st == WAITING and tonumber(call('ZSCORE', KEY_QUEUE, user.id)) ~= user.tk then
      return 'waiting user ' .. user.id .. ' not queued with its ticket'
    end
    if user.st ~= WAITING and call('ZSCORE', KEY_QUEUE, user.id) then
      return user.id .. ' is queued but not waiting'
    end
    if (user.st == DRAFT) ~= (call('SISMEMBER', KEY_DRAFTS, user.id) == 1) then
      return 'draft set disagrees on ' .. user.id
    end
    if (user.st == CONNECTED) ~= (call('SISMEMBER', KEY_CONNECTED, user.id) == 1) then
      return 'connected set disagrees on ' .. user.id
    end
    if user.st == CONNECTED then
      if user.dl ~= user.ss + user.td then return 'session of ' .. user.id .. ' is not capped' end
      if user.rn == 0 and user.ss ~= user.ca then return 'session of ' .. user.id .. ' extended' end
    end
    for kind = 0, 2 do
      local want = desired(user, kind)
      local sequence = user[ARMED_SEQUENCE[kind]]
      local timer = 'timer ' .. kind .. ' of ' .. user.id
      if want and sequence == 0 then return timer .. ' not armed' end
      if not want and sequence ~= 0 then return timer .. ' armed for nothing' end
      if want then
        armed = armed + 1
        if user[ARMED_DEADLINE[kind]] > want then return timer .. ' late' end
        local score = call('ZSCORE', KEY_TIMERS, timer_member(sequence, kind, user.id))
        if tonumber(score) ~= user[ARMED_DEADLINE[kind]] then
          return timer .. ' missing from the set'
        end
      end
    end
  end
  if call('ZCARD', KEY_QUEUE) ~= counts[WAITING] or G.nwait ~= counts[WAITING] then
    return 'queue size differs'
  end
  if call('LLEN', KEY_FREE_SLOTS) ~= G.nfree then return 'free slot count differs' end
  if call('SCARD', KEY_DRAFTS) ~= counts[DRAFT] or G.ndraft ~= counts[DRAFT] then
    return 'draft count differs'
  end
  if call('SCARD', KEY_CONNECTED) ~= counts[CONNECTED] or G.nconn ~= counts[CONNECTED] then
    return 'connected count differs'
  end
  local head = call('ZRANGE', KEY_TIMERS, 0, 0, 'WITHSCORES')
  if head[2] and tonumber(head[2]) < G.due then return 'a timer is earlier than due' end
  local members = call('ZRANGE', KEY_TIMERS, 0, -1)
  local leases = 0
  for _, member in ipairs(members) do
    if member:byte(1) == 76 then leases = leases + 1 end
  end
  if #members - leases ~= armed then
    return 'timer set holds ' .. (#members - leases) .. ' timers, ' .. armed .. ' armed'
  end
  if G.allow < G.max then return 'cap allowance below the cap' end
  if occupied() > G.allow then return 'active+draft exceeds the cap' end
  if G.paused == 0 and occupied() < G.max and counts[WAITING] > 0 then
    return 'a slot is free while users wait'
  end
  return ''
end

-- The operation named by OP, with ARGS.
local function operate()

  local id = ARGS[5]
  if OP == 'join' then return op_join(id) end
  if OP == 'confirm' then return op_confirm(id) end
  if OP == 'leave' then
    if not permitted(id, 6, false) then return finish(numbers(1, 0, DISCONNECTED)) end
    return op_end(id, R_LEFT)
  end
  if OP == 'kick' then return op_end(id, R_KICKED) end
  if OP == 'heartbeat' then return op_heartbeat(id) end
  if OP == 'find' then return answer(view_of(load(id))) end
  if OP == 'poll' then return op_poll(id) end
  if OP == 'open' then return op_open(id) end
  if OP == 'close' then return op_close() end
  if OP == 'version' then return answer(numbers(G.ver)) end
  if OP == 'positions' then return op_positions() end
  if OP == 'metrics' then return op_metrics() end
  if OP == 'snapshot' then
    return {answer(), call('ZRANGE', KEY_QUEUE, 0, -1), call('SMEMBERS', KEY_DRAFTS),
            call('SMEMBERS', KEY_CONNECTED)}
  end
  if OP == 'settings' then return op_settings() end
  if OP == 'update' then return op_update() end
  if OP == 'pause' then return op_pause() end
  if OP == 'advance' then return op_advance() end
  if OP == 'init' then return op_init() end
  if OP == 'lease' then return op_lease() end
  if OP == 'release' then return op_release() end
  if OP == 'check' then return {answer(), op_check()} end
  return redis.error_reply('WAITROOM_BAD_OPERATION ' .. tostring(OP))
end

-- One call: the operation named by args[1], or a batch of them. The library's function and
-- the script's body both call this (see embed_lua.cmake).
--
-- A batch ('batch', prefix, channel prefix, unused, count, then for each operation: its
-- argument count n, its name, its `now`, its n - 2 arguments) runs the operations one after
-- the other, each exactly as if called alone (its own `now`, timers, notifications, store
-- sequence and answer), and writes back once at the end. The store sends one when several
-- operations wait for the same connection: the cost of a call (reading the globals,
-- writing them back, the call itself) is then shared.
local function run(args)
  begin(args)
  if not G.max and OP ~= 'init' then
    return redis.error_reply('WAITROOM_UNINITIALIZED the room has no settings (run init)')
  end
  if OP ~= 'batch' then return operate() end
  local answers = {}
  local at = 6
  in_batch = true
  for index = 1, tonumber(args[5]) do
    local count = tonumber(args[at])
    local operation = {args[at + 1], PREFIX, CHANNEL_PREFIX, args[at + 2]}
    for i = 3, count do operation[i + 2] = args[at + i] end
    begin_operation(operation)
    answers[index] = operate()
    at = at + 1 + count
  end
  in_batch = false
  save()
  return answers
end
