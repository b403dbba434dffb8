-- wrk pacing for `cargo bench --bench scale`: each connection waits 1 ms
-- before each request (about 25,000 requests a second over 50
-- connections), so that the cores have room and the server's CPU per
-- request is not inflated by its threads and wrk taking turns on them.
function delay()
   return 1
end
