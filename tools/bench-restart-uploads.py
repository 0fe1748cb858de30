#!/usr/bin/env python3
# Restart time with N open multipart uploads (issue 16): starts a node on a
# fresh data dir, writes N manifests, drops the page cache and starts it
# again; prints when it listens and when the background loader finished.
#   cargo build --profile ci && python3 tools/bench-restart-uploads.py 100000
import json, os, subprocess, sys, time, shutil, re
BIN=os.environ.get("SHALE_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "ci", "shale"))
N=int(sys.argv[1])
d=os.environ.get("DATA_DIR", "/tmp/shale-restart-bench")
shutil.rmtree(d, ignore_errors=True)
env=dict(os.environ, SHALE_ROOT_ACCESS_KEY="AKIDRESTARTTEST00001", SHALE_ROOT_SECRET_KEY="restart-secret-0123456789abcdef")
def start():
    t=time.time()
    p=subprocess.Popen([BIN,"serve","--listen","127.0.0.1:0","--data-dir",d],stdout=subprocess.PIPE,stderr=subprocess.PIPE,env=env,text=True)
    for line in p.stdout:
        if line.startswith("shale listening"):
            return p, time.time()-t
    raise SystemExit("no banner: "+p.stderr.read())
p,_=start(); p.terminate(); p.wait()
up=os.path.join(d,"uploads")
for i in range(N):
    uid="%032x"%i
    m={"version":1,"upload_id":uid,"bucket":"b","key_hex":"6b","initiated_nanos":1795312496000000001,"meta":[],"parts":[{"number":1,"size":5242880,"md5_hex":"0"*32,"mtime_nanos":1,"chunks":[[1,4096,4096,4000]]}]}
    with open(os.path.join(up,uid+".json"),"w") as f: json.dump(m,f)
os.system("sync; echo 3 > /proc/sys/vm/drop_caches")
p,listening=start()
t0=time.time()
loaded=None
for line in p.stderr:
    if "multipart manifests loaded" in line:
        loaded=re.search(r"secs=([0-9.]+)",line).group(1); break
p.terminate(); p.wait()
print(f"{N} open uploads: listening after {listening:.2f} s; manifests loaded in the background in {loaded} s")
