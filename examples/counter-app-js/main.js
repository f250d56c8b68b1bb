// CONTRACT §7's counter: every request that is not a static file lands here.
let count = db.get("visits") || 0;
count++;
db.set("visits", count);
res.json({ visits: count });
