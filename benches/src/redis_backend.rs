//! Peer: Redis (Debian's redis-server on 127.0.0.1), one request in flight per connection.
//! String `t:<id>` holds the packed record, set `s:<subject>` the subject's ids, one sorted
//! set `exp` the ids scored by expiry (native TTL is not used, so purge has to do the work).
//! Durable = `appendonly yes` + `appendfsync always`, one MULTI/EXEC per write.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use redis::{Connection, Pipeline};

use crate::backend::{
    Backend, BackendInfo, IssueRequest, IssuedToken, Issuer, OpenArgs, Secret, TokenId, TokenSpec,
    Verifier,
};
use crate::record::{self, NewToken, Record};
use crate::redis_server;
use crate::stats;

/// Registry entry.
pub const INFO: BackendInfo = BackendInfo {
    name: "redis",
    label: "Redis (127.0.0.1)",
    needs_redis: true,
    open,
};

/// Tokens per pipeline during the bulk load, and ids per MGET + MULTI/EXEC during purge.
const CHUNK: usize = 1_000;

fn token_key(id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + id.len());
    k.extend_from_slice(b"t:");
    k.extend_from_slice(id);
    k
}

fn subject_key(subject: u64) -> String {
    format!("s:{subject}")
}

const EXPIRY_KEY: &str = "exp";

fn connect(port: u16) -> Result<Connection> {
    redis::Client::open(redis_server::url(port).as_str())
        .and_then(|c| c.get_connection())
        .with_context(|| format!("connecting to redis-server on port {port}"))
}

fn open(args: &OpenArgs<'_>) -> Result<Box<dyn Backend>> {
    let port = args
        .redis_port
        .ok_or_else(|| anyhow!("the redis backend needs a redis-server (--redis-port)"))?;
    let mut con = connect(port)?;
    let dir: String = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query::<Vec<String>>(&mut con)?
        .pop()
        .ok_or_else(|| anyhow!("CONFIG GET dir returned nothing"))?;
    let aof_dir: String = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appenddirname")
        .query::<Vec<String>>(&mut con)?
        .pop()
        .unwrap_or_else(|| "appendonlydir".to_string());
    redis::cmd("FLUSHALL").exec(&mut con).context("FLUSHALL")?;
    Ok(Box::new(RedisPeer {
        con,
        port,
        aof_dir: PathBuf::from(dir).join(aof_dir),
    }))
}

/// The Redis store of one round (a connection to the round's server).
pub struct RedisPeer {
    con: Connection,
    port: u16,
    aof_dir: PathBuf,
}

/// Adds the commands that store one record and its index entries.
fn add_insert(pipe: &mut Pipeline, id: &TokenId, rec: &Record<'_>) {
    pipe.cmd("SET")
        .arg(token_key(id))
        .arg(rec.encode())
        .ignore()
        .cmd("SADD")
        .arg(subject_key(rec.subject))
        .arg(&id[..])
        .ignore()
        .cmd("ZADD")
        .arg(EXPIRY_KEY)
        .arg(rec.expires_at)
        .arg(&id[..])
        .ignore();
}

fn info_field(con: &mut Connection, section: &str, field: &str) -> Result<String> {
    let info: String = redis::cmd("INFO").arg(section).query(con)?;
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| anyhow!("INFO {section} has no field {field}"))
}

impl Backend for RedisPeer {
    fn load(&mut self, batch: &[TokenSpec]) -> Result<()> {
        for chunk in batch.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for spec in chunk {
                add_insert(&mut pipe, &spec.id, &Record::from_spec(spec));
            }
            pipe.exec(&mut self.con).context("Redis load pipeline")?;
        }
        Ok(())
    }

    fn finish_load(&mut self) -> Result<()> {
        // Switching AOF on rewrites the whole dataset into the AOF (RDB preamble); wait for
        // that rewrite so that no fork happens during the timed phases.
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendonly")
            .arg("yes")
            .exec(&mut self.con)
            .context("CONFIG SET appendonly yes")?;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let in_progress = info_field(&mut self.con, "persistence", "aof_rewrite_in_progress")?;
            let scheduled = info_field(&mut self.con, "persistence", "aof_rewrite_scheduled")?;
            if in_progress == "0" && scheduled == "0" {
                break;
            }
            if Instant::now() > deadline {
                bail!("the AOF rewrite after the load did not finish within 10 minutes");
            }
            thread::sleep(Duration::from_millis(20));
        }
        let status = info_field(&mut self.con, "persistence", "aof_last_bgrewrite_status")?;
        if status != "ok" {
            bail!("the AOF rewrite after the load failed: {status}");
        }
        Ok(())
    }

    fn verifier(&self) -> Result<Box<dyn Verifier + Send>> {
        Ok(Box::new(RedisHandle(connect(self.port)?)))
    }

    fn issuer(&self) -> Result<Box<dyn Issuer + Send>> {
        Ok(Box::new(RedisHandle(connect(self.port)?)))
    }

    fn revoke(&mut self, id: &TokenId) -> Result<bool> {
        let key = token_key(id);
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut self.con)?;
        let Some(value) = value else {
            return Ok(false);
        };
        let subject = record::subject_of(&value)?;
        redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .cmd("SREM")
            .arg(subject_key(subject))
            .arg(&id[..])
            .ignore()
            .cmd("ZREM")
            .arg(EXPIRY_KEY)
            .arg(&id[..])
            .ignore()
            .exec(&mut self.con)
            .context("Redis revoke MULTI/EXEC")?;
        Ok(true)
    }

    fn revoke_subject(&mut self, subject: u64) -> Result<u64> {
        let skey = subject_key(subject);
        let ids: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(&skey).query(&mut self.con)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| token_key(id)).collect();
        let (deleted,): (u64,) = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(&keys)
            .cmd("DEL")
            .arg(&skey)
            .ignore()
            .cmd("ZREM")
            .arg(EXPIRY_KEY)
            .arg(&ids)
            .ignore()
            .query(&mut self.con)
            .context("Redis revoke_subject MULTI/EXEC")?;
        Ok(deleted)
    }

    fn purge_expired(&mut self, now: u64) -> Result<u64> {
        let ids: Vec<Vec<u8>> = redis::cmd("ZRANGEBYSCORE")
            .arg(EXPIRY_KEY)
            .arg("-inf")
            .arg(format!("({now}"))
            .query(&mut self.con)?;
        let mut removed = 0;
        for chunk in ids.chunks(CHUNK) {
            let keys: Vec<Vec<u8>> = chunk.iter().map(|id| token_key(id)).collect();
            let values: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(&keys).query(&mut self.con)?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("DEL").arg(&keys);
            for (id, value) in chunk.iter().zip(&values) {
                if let Some(value) = value {
                    pipe.cmd("SREM")
                        .arg(subject_key(record::subject_of(value)?))
                        .arg(id)
                        .ignore();
                }
            }
            pipe.cmd("ZREM").arg(EXPIRY_KEY).arg(chunk).ignore();
            let (deleted,): (u64,) = pipe
                .query(&mut self.con)
                .context("Redis purge MULTI/EXEC")?;
            removed += deleted;
        }
        Ok(removed)
    }

    fn disk_bytes(&self) -> Result<u64> {
        // During the bulk load AOF is still off (see `finish_load`) and the server has written
        // nothing: no directory yet is zero bytes on disk.
        if !self.aof_dir.exists() {
            return Ok(0);
        }
        stats::dir_bytes(&self.aof_dir)
            .with_context(|| format!("measuring {}", self.aof_dir.display()))
    }

    fn extra_figures(&mut self) -> Result<Vec<(&'static str, f64)>> {
        let used: f64 = info_field(&mut self.con, "memory", "used_memory")?
            .parse()
            .context("parsing used_memory")?;
        Ok(vec![("server_used_memory_mib", stats::mib(used as u64))])
    }
}

/// A per-thread connection.
struct RedisHandle(Connection);

impl Verifier for RedisHandle {
    fn verify(&mut self, id: &TokenId, secret: &Secret) -> Result<bool> {
        let value: Option<Vec<u8>> = redis::cmd("GET").arg(token_key(id)).query(&mut self.0)?;
        match value {
            Some(v) => record::verify_packed(&v, secret, record::now_secs()),
            None => Ok(false),
        }
    }
}

impl Issuer for RedisHandle {
    fn issue(&mut self, req: &IssueRequest) -> Result<IssuedToken> {
        let new = NewToken::draw(req)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        add_insert(&mut pipe, &new.token.id, &new.record(req));
        pipe.exec(&mut self.0).context("Redis issue MULTI/EXEC")?;
        Ok(new.token)
    }
}
