-- wrk's side of a lab scenario: send the scenario's requests, check every answer, report as JSON.
-- lab.wrk.script prepends the scenario as data (lab_steps, lab_cycle); this file is the logic.
--
-- One step (plaintext, json, home, io, cpu, large, upload): wrk's static request (no request()
-- hook), every answer compared with the step's status and body when lab_check is true.  Several steps (signin, mixed):
-- request() sends them in the weighted cycle's order; wrk's Lua API does not say which request an
-- answer belongs to, so an answer must be one of the scenario's (status and body), and no answer
-- may come back more often than its request was sent (a swapped answer is caught that way).
-- Anything else is a mismatch: lab.wrk subtracts mismatches from wrk's request count.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("lab_offset", #threads * 7)  -- threads start at different points of the cycle
end

lab_mismatches, lab_checked = 0, 0
local sent, answered, by_answer = {}, {}, {}
local position = 0

local function configure_single(step)
   wrk.method, wrk.path, wrk.body = step.method, step.path, step.body
   for name, value in pairs(step.headers) do wrk.headers[name] = value end
end

if #lab_steps == 1 then
   configure_single(lab_steps[1])
end

function init(args)
   for index, step in ipairs(lab_steps) do
      step.raw = wrk.format(step.method, step.path, step.headers, step.body)
      sent[index], answered[index] = 0, 0
      by_answer[step.answer] = index
   end
   position = (lab_offset or 0) % #lab_cycle
end

if #lab_steps > 1 then
   request = function()
      position = position % #lab_cycle + 1
      local index = lab_cycle[position]
      sent[index] = sent[index] + 1
      return lab_steps[index].raw
   end
end

local function check(status, headers, body)
   lab_checked = lab_checked + 1
   local index = by_answer[body]
   if index == nil or lab_steps[index].status ~= status or answered[index] >= sent[index] and #lab_steps > 1 then
      lab_mismatches = lab_mismatches + 1
   else
      answered[index] = answered[index] + 1
   end
end

-- Defining response() makes wrk hand every answer's headers and body to Lua: lab_check is false
-- for the peak run of a one-step scenario, which then costs wrk exactly what a plain wrk costs.
if lab_check then
   response = check
end

-- wrk's done() hook: print the run's figures as one JSON line, so the lab reads numbers, not prose.
function done(summary, latency, requests)
   local mismatches, checked = 0, 0
   for _, thread in ipairs(threads) do
      mismatches = mismatches + thread:get("lab_mismatches")
      checked = checked + thread:get("lab_checked")
   end
   local e = summary.errors
   io.write(string.format(
      '\nLAB_WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "mismatches": %d, "checked": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "p9999": %d, "max": %d, "mean": %.3f}}\n',
      summary.requests, summary.duration, summary.bytes, mismatches, checked,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      latency:percentile(99.99), latency.max, latency.mean))
end
