-- Each request joins a new user id, so every join takes a new place in the queue.
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local counter = 0
function request()
  counter = counter + 1
  return wrk.format("POST", "/queue/join/bench-" .. thread_id .. "-" .. counter)
end
