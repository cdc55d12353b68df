-- The concurrent writes of `make bench`, one kind per run (bench/writes.py writes the data):
--   wrk -s writes.lua URL -- KIND RUN THREADS DATA STATE
-- article, comment: each request has a title and an Idempotency-Key no other request had
-- (the run, the thread and a counter are in both). follow, favourite: each thread owns every
-- THREADS-th (user, target) pair and turns each on and off in turn, starting from the states in
-- the STATE file (read from the server before the run), so every request changes a row.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  kind, run, data = args[1], args[2], dofile(args[4])
  counter = 0
  if kind == "follow" or kind == "favourite" then
    state_path = args[5]
    state = dofile(state_path)
    -- pairs far apart in the walk: a pair's next request is never in flight with the last
    mine = {}
    for i = tid + 1, #data[kind], tonumber(args[3]) do
      table.insert(mine, i)
    end
  end
end

local function headers(user, key)
  local h = { Authorization = "Token " .. data.tokens[user] }
  if key then
    h["Content-Type"] = "application/json"
    h["Idempotency-Key"] = key
  end
  return h
end

function request()
  counter = counter + 1
  local user = (counter + tid) % #data.tokens + 1
  local unique = string.format("w%s-%d-%d", run, tid, counter)
  if kind == "article" then
    local a = data.articles[counter % #data.articles + 1]
    return wrk.format("POST", "/api/articles", headers(user, unique), a.before .. unique .. a.after)
  elseif kind == "comment" then
    local path = data.comment_paths[counter % #data.comment_paths + 1]
    local body = data.comments[counter % #data.comments + 1]
    return wrk.format("POST", path, headers(user, unique), body)
  end
  local i = mine[counter % #mine + 1]
  local pair = data[kind][i]
  local on = state[i]
  state[i] = not on
  return wrk.format(on and "DELETE" or "POST", pair.path, headers(pair.user), nil)
end
