-- Part 3 of 4: the state machine of DESIGN.md §2, a transcription of the private part of
-- src/engine/engine.cpp (Engine::Impl) onto the records of the prelude. Function names and
-- order follow that file; read it for the reasons behind each rule. What differs:
--   - timers live in the sorted set `t` instead of a heap. The engine leaves a stale heap
--     entry behind when it disarms or re-arms a timer; here the old member is removed at
--     once (its name follows from the record), so every member is live. An armed deadline
--     may still be earlier than the real one (a touch or a heartbeat moved it later without
--     touching the set): when it comes due it is re-armed at the real one, as in the engine;
--   - there are no slots: where the engine walks its slab (resync_all), this walks the
--     records in generation order, which is the order the engine walks them in too;
--   - events are JSON messages collected in `events`, published by the operation at the end;
--   - the instances' stream leases (see release_instance) are timers of their own.

local measurements, measurement_count = {}, 0  -- flat: kind (0 wait, 1 session), ms
local earliest_armed = nil
local timers_ran_at = nil
-- ZRANK is O(log N): the last position looked up is kept until the queue changes.
-- queue_stamp moves at every change of the queue and at every operation.
local queue_stamp = 0
local cached_id, cached_stamp, cached_position = nil, nil, nil

local function remember_position(id, value)
  cached_id, cached_stamp, cached_position = id, queue_stamp, value
end

RESETS[#RESETS + 1] = function()
  event_count = 0
  measurement_count = 0
  earliest_armed = nil
  timers_ran_at = nil
  queue_stamp = queue_stamp + 1
end

local function measure(kind, ms)
  measurements[measurement_count + 1] = kind
  measurements[measurement_count + 2] = ms
  measurement_count = measurement_count + 2
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
  uset(user, TK, ticket)
  uset(user, ST, WAITING)
  local id = user[ID]
  queue_add(ticket, id)
  queue_stamp = queue_stamp + 1
  ginc('nwait')
  -- The new ticket is the largest or the smallest: the position is known without a ZRANK.
  remember_position(id, at_front and 1 or G.nwait)
  -- Joining at the back moves nobody; jumping the queue moves everyone behind.
  if at_front then ginc('ver') end
end

local function dequeue(user)
  queue_call('ZREM', user[ID])
  queue_stamp = queue_stamp + 1
  gset('nwait', G.nwait - 1)
  ginc('ver')
end

local function position_of(id)
  if cached_id == id and cached_stamp == queue_stamp then return cached_position end
  local rank = queue_call('ZRANK', id)
  local result = rank and rank + 1 or 0
  remember_position(id, result)
  return result
end

local function position(user)
  return position_of(user[ID])
end

-- ---- slots and the estimate --------------------------------------------------------

local function occupied()
  return G.ndraft + G.nconn
end

local function release_slot(user)
  local status = user[ST]
  if status == DRAFT then
    gset('ndraft', G.ndraft - 1)
    call('SREM', KEY_DRAFTS, user[ID])
  elseif status == CONNECTED then
    gset('nconn', G.nconn - 1)
    call('SREM', KEY_CONNECTED, user[ID])
  end
  gset('allow', math.max(G.max, math.min(G.allow, occupied())))
  call('RPUSH', KEY_RELEASES, now)
  if G.nrel + 1 > RELEASE_WINDOW then
    call('LTRIM', KEY_RELEASES, -RELEASE_WINDOW, -1)
    gset('oldrel', tonumber(call('LINDEX', KEY_RELEASES, 0)))
  elseif G.nrel == 0 then
    gset('oldrel', now)
  end
  ginc('nrel')
end

local function set_cap(cap)
  gset('max', cap)
  gset('allow', math.max(cap, occupied()))
end

local function estimate(pos)
  if pos == 0 then return 0 end
  local samples = G.nrel
  if samples > RELEASE_WINDOW then samples = RELEASE_WINDOW end
  if samples >= MIN_RELEASE_SAMPLES then
    local span = now - G.oldrel
    if span < 0 then span = 0 end
    return floor(span / (samples - 1) * pos)
  end
  local cap = G.max
  if cap < 1 then cap = 1 end
  return G.sess * floor((pos + cap - 1) / cap)
end

-- engine::UserView, packed (see numbers): status, reason, position, deadline, total duration,
-- draft misses, generation, estimated wait. Status -1 alone (NO_VIEW_STATUS) stands for no
-- record.
local NO_VIEW_STATUS = -1

local function view(user)
  local status = user[ST]
  if status == WAITING then
    local pos = position(user)
    return numbers(status, user[RS], pos, 0, 0, user[DM], user[GEN], estimate(pos))
  elseif status == DISCONNECTED then
    return numbers(status, user[RS], 0, 0, 0, user[DM], user[GEN], 0)
  end
  return numbers(status, user[RS], 0, user[DL], user[TD], user[DM], user[GEN], 0)
end

local function view_of(user)
  if user then return view(user) end
  return numbers(NO_VIEW_STATUS)
end

-- ---- records ------------------------------------------------------------------------

local function new_user(id)
  local generation = G.ngen
  gset('ngen', generation + 1)
  ginc('nusers')
  local user = {DISCONNECTED, R_NONE, generation, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, id}
  users[id] = user
  touched[id] = user
  changed = true
  return user
end

-- ---- timers -------------------------------------------------------------------------

local KIND_DIGITS = {[0] = '0', [1] = '1', [2] = '2'}

local function timer_member(sequence, kind, id)
  return pack('>d', sequence) .. KIND_DIGITS[kind] .. id
end

local function arm(user, kind, deadline)
  local sequence_field = ARMED_SEQUENCE[kind]
  local id = user[ID]
  if user[sequence_field] ~= 0 then
    timer_call('ZREM', timer_member(user[sequence_field], kind, id))
  end
  local sequence = G.tseq
  gset('tseq', sequence + 1)
  uset(user, sequence_field, sequence)
  uset(user, ARMED_DEADLINE[kind], deadline)
  timer_add(deadline, timer_member(sequence, kind, id))
  if not earliest_armed or deadline < earliest_armed then earliest_armed = deadline end
  if deadline < G.due then gset('due', deadline) end
end

local function disarm(user, kind)
  local sequence_field = ARMED_SEQUENCE[kind]
  local sequence = user[sequence_field]
  if sequence == 0 then return end
  timer_call('ZREM', timer_member(sequence, kind, user[ID]))
  uset(user, sequence_field, 0)
end

local function forget(user)
  for kind = 0, 2 do disarm(user, kind) end
  local id = user[ID]
  call('DEL', user_key(id))
  gset('nusers', G.nusers - 1)
  users[id] = false
  touched[id] = nil
  changed = true
end

-- The deadline a timer kind should fire at for this user now, or nil.
local function desired(user, kind)
  local status = user[ST]
  if kind == T_STATE then
    if status == DRAFT or status == CONNECTED then return user[DL] end
    if status == DISCONNECTED then return user[DA] + G.ret end
    return nil
  elseif kind == T_ACTIVITY then
    if status == WAITING then
      if G.pres > 0 and user[OS] == 0 then return user[LS] + G.pres end
    elseif status == CONNECTED and G.idle > 0 then
      return user[LS] + G.idle
    end
    return nil
  end
  if (status == DRAFT or status == CONNECTED) and user[W] == 0 and G.soon > 0 and
      G.soon < user[TD] then
    return user[DL] - G.soon
  end
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

-- Every record, in generation order (O(N log N), for settings changes and checks): the
-- waiting users are in the queue, the others each have a state timer (a draft or session
-- end, or the retention of a disconnected record).
local function all_users()
  local seen = {}
  local out = {}
  local function add(id)
    if seen[id] then return end
    seen[id] = true
    local user = load(id)
    if user then out[#out + 1] = user end
  end
  for _, id in ipairs(queue_call('ZRANGE', 0, -1)) do add(id) end
  for _, member in ipairs(timer_call('ZRANGE', 0, -1)) do
    if member:byte(1) ~= 76 and member:byte(9) == 48 then add(member:sub(10)) end
  end
  table.sort(out, function(a, b) return a[GEN] < b[GEN] end)
  return out
end

local function resync_all()
  for _, user in ipairs(all_users()) do sync_timers(user) end
end

-- ---- transitions ----------------------------------------------------------------------

local function offer_drafts()
  if G.paused == 1 then return end
  while occupied() < G.max do
    if G.nwait == 0 then return end
    local head = queue_call('ZPOPMIN')
    queue_stamp = queue_stamp + 1
    gset('nwait', G.nwait - 1)
    ginc('ver')
    local user = load(head[1])
    local deadline = now + G.draft
    uset(user, ST, DRAFT)
    uset(user, DL, deadline)
    uset(user, TD, G.draft)
    uset(user, W, 0)
    gset('ndraft', G.ndraft + 1)
    call('SADD', KEY_DRAFTS, user[ID])
    ginc('c_drafts')
    local waited = now - user[JA]
    gset('twait', G.twait + waited)
    EMIT.draft(user[ID], G.draft, deadline)
    measure(0, waited)
    sync_timers(user)
  end
end

-- Moves a user of any live state to disconnected; the caller offers drafts after.
local function disconnect(user, reason)
  local measured = 0
  local status = user[ST]
  if status == WAITING then
    dequeue(user)
  elseif status == DRAFT then
    release_slot(user)
  elseif status == CONNECTED then
    local ended = now
    if reason == R_SESSION_TIMEOUT and user[DL] < now then ended = user[DL] end
    measured = ended - user[CA]
    gset('tsess', G.tsess + measured)
    ginc('send')
    release_slot(user)
  else
    return
  end
  uset(user, ST, DISCONNECTED)
  uset(user, RS, reason)
  uset(user, DA, now)
  EMIT.disconnected(user[ID], reason)
  if measured > 0 then measure(1, measured) end
  sync_timers(user)
end

local function draft_expired(user)
  uset(user, DM, user[DM] + 1)
  if user[DM] >= G.miss then
    ginc('c_dto')
    disconnect(user, R_DRAFT_TIMEOUT)
    return
  end
  release_slot(user)
  ginc('c_rq')
  uset(user, RS, R_DRAFT_TIMEOUT)
  -- They were present when offered; give presence a fresh start.
  uset(user, LS, now)
  enqueue(user, G.rq == 1)
  local pos = position(user)
  EMIT.requeued(user[ID], R_DRAFT_TIMEOUT, pos, estimate(pos))
  sync_timers(user)
end

local function fire(user, kind)
  local status = user[ST]
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
    uset(user, W, 1)
    -- A notice that would arrive after the end it announces is pointless.
    if now < user[DL] then
      EMIT.expiring(user[ID], user[DL] - now, status)
    end
  end
end

-- A stream of this user closed (opened: false) or opened, without running the timers.
local function stream_change_core(user, opened, count)
  if opened then
    uset(user, OS, user[OS] + count)
  elseif user[OS] > 0 then
    uset(user, OS, math.max(user[OS] - count, 0))
  end
  -- Opening or closing a stream is itself a sign of presence.
  if user[ST] ~= DISCONNECTED then uset(user, LS, now) end
  sync_timer(user, T_ACTIVITY)
end

local function held_key(instance)
  return PREFIX .. 'i:' .. instance
end

-- An instance's stream lease is a member of the timer set like any timer.
local function arm_lease(instance, deadline)
  timer_call('ZADD', deadline, 'L' .. instance)
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
    local due = timer_call('ZRANGEBYSCORE', '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
    if #due == 0 then
      local head = timer_call('ZRANGE', 0, 0, 'WITHSCORES')
      gset('due', head[2] and tonumber(head[2]) or 2 ^ 53)
      break
    end
    local member, deadline = due[1], tonumber(due[2])
    if member:byte(1) == 76 then  -- 'L': an instance's lease
      timer_call('ZREM', member)
      release_instance(member:sub(2))
    else
      local sequence = unpack_struct('>d', member)
      local kind = member:byte(9) - 48
      local user = load(member:sub(10))
      if not user or user[ARMED_SEQUENCE[kind]] ~= sequence then
        timer_call('ZREM', member)  -- cannot happen unless edited by hand
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
