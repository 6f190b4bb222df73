-- Part 3 of 4: the state machine of DESIGN.md §2, a transcription of the private part of
-- src/engine/engine.cpp (Engine::Impl) onto the records of the prelude. Function names and
-- order follow that file; read it for the reasons behind each rule. What differs:
--   - timers live in the sorted set `t` instead of a heap. The engine leaves a stale heap
--     entry behind when it disarms or re-arms a timer; here the old member is removed at
--     once (its name follows from the record), so every member is live. An armed deadline
--     may still be earlier than the real one (a touch or a heartbeat moved it later without
--     touching the set): when it comes due it is re-armed at the real one, as in the engine;
--   - events are JSON messages collected in `events`, published by the operation at the end;
--   - the instances' stream leases (see release_instance) are timers of their own.

local events = {}        -- {user id, message without its closing brace}
local measurements = {}  -- flat: kind (0: wait before a draft, 1: session length), ms
local earliest_armed = nil
-- ZRANK is O(log N); within one call a position is cached until the queue changes.
local queue_changes = 0
local position_cache = {}
local oldest_release = nil  -- cached LINDEX r 0, reset when a release is recorded
local timers_ran_at = nil

RESETS[#RESETS + 1] = function()
  events = {}
  measurements = {}
  earliest_armed = nil
  queue_changes = 0
  position_cache = {}
  oldest_release = nil
  timers_ran_at = nil
end

local function emit(id, message)
  events[#events + 1] = {id, message}
end

-- ---- queue ------------------------------------------------------------------------

local function enqueue(user, at_front)
  local ticket
  if at_front then
    ticket = G.nft
    gset('nft', ticket - 1)
  else
    ticket = G.nbt
    gset('nbt', ticket + 1)
  end
  uset(user, 'tk', ticket)
  uset(user, 'st', WAITING)
  call('ZADD', KEY_QUEUE, ticket, user.id)
  queue_changes = queue_changes + 1
  ginc('nwait')
  -- The new ticket is the largest or the smallest: the position is known without a ZRANK.
  position_cache[user.id] = {queue_changes, at_front and 1 or G.nwait}
  -- Joining at the back moves nobody; jumping the queue moves everyone behind.
  if at_front then ginc('ver') end
end

local function dequeue(user)
  call('ZREM', KEY_QUEUE, user.id)
  queue_changes = queue_changes + 1
  gset('nwait', G.nwait - 1)
  ginc('ver')
end

local function position(user)
  local cached = position_cache[user.id]
  if cached and cached[1] == queue_changes then return cached[2] end
  local rank = call('ZRANK', KEY_QUEUE, user.id)
  local result = rank and rank + 1 or 0
  position_cache[user.id] = {queue_changes, result}
  return result
end

-- ---- slots and the estimate --------------------------------------------------------

local function occupied()
  return G.ndraft + G.nconn
end

local function release_slot(user)
  if user.st == DRAFT then
    gset('ndraft', G.ndraft - 1)
    call('SREM', KEY_DRAFTS, user.id)
  elseif user.st == CONNECTED then
    gset('nconn', G.nconn - 1)
    call('SREM', KEY_CONNECTED, user.id)
  end
  gset('allow', math.max(G.max, math.min(G.allow, occupied())))
  call('RPUSH', KEY_RELEASES, now)
  if G.nrel + 1 > RELEASE_WINDOW then call('LTRIM', KEY_RELEASES, -RELEASE_WINDOW, -1) end
  ginc('nrel')
  oldest_release = nil
end

local function set_cap(cap)
  gset('max', cap)
  gset('allow', math.max(cap, occupied()))
end

local function estimate(pos)
  if pos == 0 then return 0 end
  local samples = math.min(G.nrel, RELEASE_WINDOW)
  if samples >= MIN_RELEASE_SAMPLES then
    if not oldest_release then oldest_release = tonumber(call('LINDEX', KEY_RELEASES, 0)) end
    local span = math.max(now - oldest_release, 0)
    local per_slot = span / (samples - 1)
    return floor(per_slot * pos)
  end
  local cap = math.max(G.max, 1)
  local rounds = floor((pos + cap - 1) / cap)
  return G.sess * rounds
end

-- engine::UserView, packed (see numbers): status, reason, position, deadline, total duration,
-- draft misses, generation, estimated wait. NO_VIEW (status -1) stands for no record.
local function view(user)
  local status = user.st
  if status == WAITING then
    local pos = position(user)
    return pack(VIEW_FORMAT, status, user.rs, pos, 0, 0, user.dm, user.gen, estimate(pos))
  elseif status == DISCONNECTED then
    return pack(VIEW_FORMAT, status, user.rs, 0, 0, 0, user.dm, user.gen, 0)
  end
  return pack(VIEW_FORMAT, status, user.rs, 0, user.dl, user.td, user.dm, user.gen, 0)
end

local function view_of(user)
  if user then return view(user) end
  return NO_VIEW
end

-- ---- records ------------------------------------------------------------------------

local function new_user(id)
  local slot = nil
  if G.nfree > 0 then
    slot = tonumber(call('RPOP', KEY_FREE_SLOTS))
    gset('nfree', G.nfree - 1)
  end
  if not slot then
    slot = G.nslots
    gset('nslots', slot + 1)
  end
  local generation = G.ngen
  gset('ngen', generation + 1)
  local user = {id = id, st = DISCONNECTED, rs = R_NONE, w = 0, rn = 0, dm = 0,
                os = 0, tk = 0, gen = generation, ja = 0, ls = 0, dl = 0, td = 0, ca = 0, ss = 0,
                da = 0, a0 = 0, a1 = 0, a2 = 0, d0 = 0, d1 = 0, d2 = 0, sl = slot}
  users[id] = user
  touched[id] = user
  changed = true
  call('ZADD', KEY_USERS, slot, id)
  return user
end

-- ---- timers -------------------------------------------------------------------------

local function timer_member(sequence, kind, id)
  return fmt('%015d%d', sequence, kind) .. id
end

local function arm(user, kind, deadline)
  local sequence_field = ARMED_SEQUENCE[kind]
  if user[sequence_field] ~= 0 then
    call('ZREM', KEY_TIMERS, timer_member(user[sequence_field], kind, user.id))
  end
  local sequence = G.tseq
  gset('tseq', sequence + 1)
  uset(user, sequence_field, sequence)
  uset(user, ARMED_DEADLINE[kind], deadline)
  call('ZADD', KEY_TIMERS, deadline, timer_member(sequence, kind, user.id))
  if not earliest_armed or deadline < earliest_armed then earliest_armed = deadline end
  if deadline < G.due then gset('due', deadline) end
end

local function disarm(user, kind)
  local sequence_field = ARMED_SEQUENCE[kind]
  local sequence = user[sequence_field]
  if sequence == 0 then return end
  call('ZREM', KEY_TIMERS, timer_member(sequence, kind, user.id))
  uset(user, sequence_field, 0)
end

local function forget(user)
  for kind = 0, 2 do disarm(user, kind) end
  call('DEL', user_key(user.id))
  call('ZREM', KEY_USERS, user.id)
  call('RPUSH', KEY_FREE_SLOTS, user.sl)
  ginc('nfree')
  users[user.id] = false
  touched[user.id] = nil
  changed = true
end

-- The deadline a timer kind should fire at for this user now, or nil.
local function desired(user, kind)
  local status = user.st
  if kind == T_STATE then
    if status == DRAFT or status == CONNECTED then return user.dl end
    if status == DISCONNECTED then return user.da + G.ret end
    return nil
  elseif kind == T_ACTIVITY then
    if status == WAITING and G.pres > 0 and user.os == 0 then return user.ls + G.pres end
    if status == CONNECTED and G.idle > 0 then return user.ls + G.idle end
    return nil
  end
  local holding = status == DRAFT or status == CONNECTED
  if holding and user.w == 0 and G.soon > 0 and G.soon < user.td then return user.dl - G.soon end
  return nil
end

local function sync_timer(user, kind)
  local want = desired(user, kind)
  if not want then
    disarm(user, kind)
  elseif user[ARMED_SEQUENCE[kind]] == 0 or user[ARMED_DEADLINE[kind]] > want then
    arm(user, kind, want)
  end
end

local function sync_timers(user)
  sync_timer(user, T_STATE)
  sync_timer(user, T_ACTIVITY)
  sync_timer(user, T_WARNING)
end

-- Every record in slot order, as the engine's resync_all walks its slab.
local function resync_all()
  local ids = call('ZRANGE', KEY_USERS, 0, -1)
  for _, id in ipairs(ids) do
    local user = load(id)
    if user then sync_timers(user) end
  end
end

-- ---- transitions ----------------------------------------------------------------------

local function offer_drafts()
  if G.paused == 1 then return end
  while occupied() < G.max do
    if G.nwait == 0 then return end
    local head = call('ZPOPMIN', KEY_QUEUE)
    queue_changes = queue_changes + 1
    gset('nwait', G.nwait - 1)
    ginc('ver')
    local user = load(head[1])
    uset(user, 'st', DRAFT)
    uset(user, 'dl', now + G.draft)
    uset(user, 'td', G.draft)
    uset(user, 'w', 0)
    gset('ndraft', G.ndraft + 1)
    call('SADD', KEY_DRAFTS, user.id)
    ginc('c_drafts')
    local waited = now - user.ja
    gset('twait', G.twait + waited)
    emit(user.id, draft_message(user.id, G.draft, user.dl))
    measurements[#measurements + 1] = 0
    measurements[#measurements + 1] = waited
    sync_timers(user)
  end
end

-- Moves a user of any live state to disconnected; the caller offers drafts after.
local function disconnect(user, reason)
  local measured = 0
  local status = user.st
  if status == WAITING then
    dequeue(user)
  elseif status == DRAFT then
    release_slot(user)
  elseif status == CONNECTED then
    local ended = now
    if reason == R_SESSION_TIMEOUT then ended = math.min(now, user.dl) end
    measured = ended - user.ca
    gset('tsess', G.tsess + measured)
    ginc('send')
    release_slot(user)
  else
    return
  end
  uset(user, 'st', DISCONNECTED)
  uset(user, 'rs', reason)
  uset(user, 'da', now)
  emit(user.id, disconnected_message(user.id, reason))
  if measured > 0 then
    measurements[#measurements + 1] = 1
    measurements[#measurements + 1] = measured
  end
  sync_timers(user)
end

local function draft_expired(user)
  uset(user, 'dm', user.dm + 1)
  if user.dm >= G.miss then
    ginc('c_dto')
    disconnect(user, R_DRAFT_TIMEOUT)
    return
  end
  release_slot(user)
  ginc('c_rq')
  uset(user, 'rs', R_DRAFT_TIMEOUT)
  -- They were present when offered; give presence a fresh start.
  uset(user, 'ls', now)
  enqueue(user, G.rq == 1)
  local pos = position(user)
  emit(user.id, requeued_message(user.id, R_DRAFT_TIMEOUT, pos, estimate(pos)))
  sync_timers(user)
end

local function fire(user, kind)
  local status = user.st
  if kind == T_STATE then
    if status == DRAFT then
      draft_expired(user)
    elseif status == CONNECTED then
      ginc('c_sto')
      disconnect(user, R_SESSION_TIMEOUT)
    elseif status == DISCONNECTED then
      forget(user)
    end
  elseif kind == T_ACTIVITY then
    if status == CONNECTED then
      ginc('c_ito')
      disconnect(user, R_IDLE_TIMEOUT)
    elseif status == WAITING then
      ginc('c_ab')
      disconnect(user, R_ABANDONED)
    end
  else
    uset(user, 'w', 1)
    -- A notice that would arrive after the end it announces is pointless.
    if now < user.dl then emit(user.id, expiring_message(user.id, user.dl - now, status)) end
  end
end

-- A stream of this user closed (opened: false) or opened, without running the timers.
local function stream_change_core(user, opened, count)
  if opened then
    uset(user, 'os', user.os + count)
  elseif user.os > 0 then
    uset(user, 'os', math.max(user.os - count, 0))
  end
  -- Opening or closing a stream is itself a sign of presence.
  if user.st ~= DISCONNECTED then uset(user, 'ls', now) end
  sync_timer(user, T_ACTIVITY)
end

local function held_key(instance)
  return PREFIX .. 'i:' .. instance
end

-- An instance's stream lease is a member of the timer set like any timer.
local function arm_lease(instance, deadline)
  call('ZADD', KEY_TIMERS, deadline, 'L' .. instance)
  if deadline < G.due then gset('due', deadline) end
end

-- An instance's lease ran out (it died, or lost Redis for longer than the lease): the
-- streams it held count as closed now, so that their users are no longer present forever;
-- each gets a fresh presence window to open a stream on another instance.
local function release_instance(instance)
  local key = held_key(instance)
  local flat = call('HGETALL', key)
  call('DEL', key)
  local closes = {}
  local order = {}
  for i = 1, #flat, 2 do
    local id = flat[i + 1]
    if not closes[id] then order[#order + 1] = id end
    closes[id] = (closes[id] or 0) + 1
  end
  table.sort(order)
  for _, id in ipairs(order) do
    local user = load(id)
    if user then stream_change_core(user, false, closes[id]) end
  end
end

-- Runs every due timer in (deadline, sequence) order, then offers drafts. One due member is
-- read at a time: a firing can arm a timer that is due at once and must run in order.
-- An operation runs them once: a second call at the same `now` (the actor check, then the
-- operation) would find nothing due and nothing to offer.
local function run_timers()
  if timers_ran_at == now then return end
  timers_ran_at = now
  -- Nothing is due before G.due (every ZADD to the set lowers it): most calls stop here.
  while now >= G.due do
    local due = call('ZRANGEBYSCORE', KEY_TIMERS, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
    if #due == 0 then
      local head = call('ZRANGE', KEY_TIMERS, 0, 0, 'WITHSCORES')
      gset('due', head[2] and tonumber(head[2]) or 2 ^ 53)
      break
    end
    local member, deadline = due[1], tonumber(due[2])
    if member:byte(1) == 76 then  -- 'L': an instance's lease
      call('ZREM', KEY_TIMERS, member)
      release_instance(member:sub(2))
    else
      local sequence = tonumber(member:sub(1, 15))
      local kind = tonumber(member:sub(16, 16))
      local user = load(member:sub(17))
      if not user or user[ARMED_SEQUENCE[kind]] ~= sequence then
        call('ZREM', KEY_TIMERS, member)  -- cannot happen unless edited by hand
      else
        disarm(user, kind)
        local want = desired(user, kind)
        if want then
          if want ~= deadline then
            -- The deadline moved later: re-arm at the real one, which keeps firing in true
            -- deadline order even if it is already due.
            arm(user, kind, want)
          else
            fire(user, kind)
          end
        end
      end
    end
  end
  offer_drafts()
end
