package runnerqueue

// ScriptNames names the adapter's scripts by digest (EVALSHA) and by source (the EVAL that loads
// one), for the slot test.
var ScriptNames = map[string]string{
	enqueueScript.Hash(): "enqueue.lua", stopScript.Hash(): "stop.lua",
	enqueueSource: "enqueue.lua", stopSource: "stop.lua",
}

// EnqueueScript is the enqueue script, which the migration test runs on the keys of the
// single-stream layout: the bytes the previous version wrote.
var EnqueueScript = enqueueScript
