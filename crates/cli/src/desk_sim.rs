//! The service desk of the demo: tickets and survey answers over the last weeks of the
//! simulated sales, written through the application's own use cases (the workflow, the
//! SLA clocks and the survey rules are the live ones).
//!
//! - Tickets come at about one per [`VISITS_PER_TICKET`] visits of a station and day, so
//!   busy days bring more, and busy days more complaints about waiting. One pump of one
//!   station measures short for the last [`FAULTY_DAYS`] days and brings metering
//!   complaints.
//! - Each ticket is worked by its station's manager through the seed-004 workflow with
//!   realistic delays; a step that would fall after now has not happened yet, so the
//!   queue holds recent tickets in every state and the slow ones breach their targets.
//! - A weekly satisfaction survey goes to members who visited that week; about 40 %
//!   answer, with scores that differ by station (the faulty pump's station scores low).
//!
//! Everything follows the seed, except that times are relative to the simulated period.

use anyhow::Context;
use chrono::{NaiveDate, TimeZone, Timelike};
use forecourt_app::clock::Clock;
use forecourt_app::service_desk::{
    self, CalendarBody, EventBody, MemberTicketBody, PolicyBody, TicketBody,
};
use forecourt_app::surveys::{self, AnswerBody, InvitationsBody, QuestionBody, SurveyBody};
use forecourt_app::App;
use forecourt_store::StaffUser;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The days before the end of the simulation that the service desk covers.
pub const DESK_DAYS: i64 = 56;
/// Visits per ticket, on average.
const VISITS_PER_TICKET: f64 = 250.0;
/// The faulty pump's last days.
const FAULTY_DAYS: i64 = 14;
/// The share of the faulty pump's fills that bring a metering complaint.
const FAULTY_COMPLAINT_SHARE: f64 = 0.12;
/// Members invited each week.
const INVITED_PER_WEEK: usize = 70;
const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;

/// What the service desk needs from the simulated sales: per station and day, the
/// visits and the members' visits.
#[derive(Debug, Default)]
pub struct Feed {
    pub from: Option<NaiveDate>,
    pub days: BTreeMap<(NaiveDate, String), DayAtStation>,
}

#[derive(Debug, Default)]
pub struct DayAtStation {
    pub visits: u32,
    /// (customer id, time, pump of the fuel line) of each member's visit.
    pub members: Vec<(String, i64, Option<i64>)>,
}

impl Feed {
    /// A feed of the days from `from` on.
    pub fn since(from: NaiveDate) -> Self {
        Feed {
            from: Some(from),
            days: BTreeMap::new(),
        }
    }

    /// Notes one visit (days before `from` are ignored).
    pub fn visit(
        &mut self,
        date: NaiveDate,
        station: &str,
        member: Option<&str>,
        at_us: i64,
        pump: Option<i64>,
    ) {
        if self.from.is_none_or(|f| date < f) {
            return;
        }
        let day = self.days.entry((date, station.to_string())).or_default();
        day.visits += 1;
        if let Some(m) = member {
            day.members.push((m.to_string(), at_us, pump));
        }
    }
}

/// What the desk simulation wrote.
#[derive(Debug, Default)]
pub struct DeskSummary {
    pub tickets: usize,
    pub open: usize,
    pub steps: usize,
    pub invited: usize,
    pub answered: usize,
    /// The satisfaction survey.
    pub survey_id: Option<String>,
}

/// The stations' working hours for the service desk (a station is open all day; its
/// manager answers complaints in the day).
const DESK_OPEN: u32 = 8;
const DESK_CLOSE: u32 = 20;

/// Moves a time into the desk's hours (Asia/Shanghai): before 08:00 to 08:00 plus a few
/// minutes, after 20:00 to the next morning.
fn in_desk_hours(at_us: i64, rng: &mut ChaCha8Rng) -> i64 {
    let tz = forecourt_app::clock::tz("Asia/Shanghai");
    let Some(t) = chrono::DateTime::from_timestamp_micros(at_us) else {
        return at_us;
    };
    let local = t.with_timezone(&tz);
    let h = local.hour();
    if (DESK_OPEN..DESK_CLOSE).contains(&h) {
        return at_us;
    }
    let day = if h >= DESK_CLOSE {
        local.date_naive().succ_opt().unwrap_or(local.date_naive())
    } else {
        local.date_naive()
    };
    let morning = day
        .and_hms_opt(DESK_OPEN, rng.gen_range(0..50), 0)
        .and_then(|n| tz.from_local_datetime(&n).single());
    morning.map_or(at_us, |m| m.timestamp_micros())
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, weighted: &'a [(T, u32)]) -> &'a T {
    let total: u32 = weighted.iter().map(|w| w.1).sum();
    let mut r = rng.gen_range(0..total);
    for (v, w) in weighted {
        if r < *w {
            return v;
        }
        r -= w;
    }
    &weighted[weighted.len() - 1].0
}

/// A description a customer might give, by kind and category.
fn description(kind: &str, category: &str, pump: Option<i64>, rng: &mut ChaCha8Rng) -> String {
    let texts: &[&str] = match (kind, category) {
        ("complaint", "metering") => &[
            "加满一箱比平时多了五六升，怀疑加油机计量不准。",
            "加油机显示的升数和油箱表对不上，要求核实计量。",
        ],
        ("complaint", "waiting") => &[
            "排队加油等了二十多分钟，只开了一半的加油枪。",
            "高峰时段收银只有一个窗口，结账排了很久。",
        ],
        ("complaint", "attitude") => &[
            "加油员态度冷淡，问问题不理人。",
            "收银员催促结账，语气不好。",
        ],
        ("complaint", "fuel_quality") => &[
            "加完油后车辆启动困难，怀疑油品有问题。",
            "加了 95 号后发动机有异响，请检查油品。",
        ],
        ("complaint", "invoice") => &[
            "要求开具增值税专用发票，一周了还没收到。",
            "发票抬头开错了，需要重开。",
        ],
        ("complaint", "car_wash") => &["洗车后车身还有明显水渍和泥点。"],
        ("complaint", "card") => &[
            "油卡充值后余额没有及时到账。",
            "副卡被限额拒绝，但额度还没用完。",
        ],
        ("complaint", "points") => &["上次加油的积分没有到账。", "积分兑换的洗车券无法使用。"],
        ("complaint", _) => &["卫生间不够干净。", "站内照明太暗，晚上不安全。"],
        ("suggestion", _) => &[
            "建议高峰时段多开一个收银台。",
            "希望便利店增加热饮和早餐。",
            "建议增加一个自助洗车位。",
            "希望会员中心能查看每次加油的发票。",
        ],
        ("praise", _) => &[
            "加油员主动帮忙检查胎压，服务很好。",
            "夜间加油时工作人员很热情，值得表扬。",
            "站长及时处理了我的问题，非常满意。",
        ],
        ("inquiry", _) => &[
            "请问充值 1000 元有什么优惠？",
            "会员等级怎么升级？",
            "周末营业时间是几点到几点？",
        ],
        _ => &["需要为车队办理十张副卡。", "请帮忙修改油卡绑定的车牌。"],
    };
    let text = texts[rng.gen_range(0..texts.len())].to_string();
    match pump {
        Some(p) if category == "metering" => format!("{p} 号加油机：{text}"),
        _ => text,
    }
}

/// A planned ticket: when, where, about what and who.
struct Planned {
    at: i64,
    station: String,
    kind: &'static str,
    channel: &'static str,
    category: &'static str,
    severity: &'static str,
    customer: Option<String>,
    pump: Option<i64>,
}

/// Plans the tickets of the feed, in time order.
fn plan(
    feed: &Feed,
    faulty: Option<(&str, i64)>,
    end: NaiveDate,
    rng: &mut ChaCha8Rng,
) -> Vec<Planned> {
    // The mean visits of each station, to know its busy days.
    let mut totals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for ((_, s), d) in &feed.days {
        let t = totals.entry(s.as_str()).or_default();
        t.0 += u64::from(d.visits);
        t.1 += 1;
    }
    let faulty_from = end - chrono::Duration::days(FAULTY_DAYS - 1);
    let mut out = Vec::new();
    for ((date, station), day) in &feed.days {
        let (sum, n) = totals[station.as_str()];
        let busy = f64::from(day.visits) / (sum as f64 / n.max(1) as f64).max(1.0);
        let expected = f64::from(day.visits) / VISITS_PER_TICKET;
        let count = expected.floor() as usize + usize::from(rng.gen_bool(expected.fract()));
        for _ in 0..count {
            let kind = *pick(
                rng,
                &[
                    ("complaint", 45),
                    ("suggestion", 20),
                    ("praise", 18),
                    ("inquiry", 12),
                    ("service_request", 5),
                ],
            );
            let waiting = (20.0 * busy * busy) as u32;
            let category = if kind == "complaint" {
                *pick(
                    rng,
                    &[
                        ("waiting", waiting.max(1)),
                        ("attitude", 15),
                        ("fuel_quality", 6),
                        ("metering", 5),
                        ("invoice", 12),
                        ("car_wash", 8),
                        ("card", 10),
                        ("points", 10),
                        ("other", 6),
                    ],
                )
            } else {
                *pick(
                    rng,
                    &[
                        ("attitude", 6),
                        ("waiting", 3),
                        ("car_wash", 3),
                        ("card", 4),
                        ("points", 4),
                        ("other", 5),
                    ],
                )
            };
            let severity = match kind {
                "complaint" => *pick(
                    rng,
                    &[("low", 5), ("normal", 60), ("high", 30), ("critical", 5)],
                ),
                _ => *pick(rng, &[("low", 50), ("normal", 50)]),
            };
            let channel = *pick(
                rng,
                &[
                    ("counter", 45),
                    ("phone", 25),
                    ("portal", 15),
                    ("wechat", 10),
                    ("email", 5),
                ],
            );
            let member = (!day.members.is_empty() && rng.gen_bool(0.8))
                .then(|| &day.members[rng.gen_range(0..day.members.len())]);
            let at = match member {
                Some(m) => m.1 + rng.gen_range(5..90) * MINUTE,
                None => forecourt_sim::local_us(*date, rng.gen_range(7 * 60..22 * 60)),
            };
            let at = if channel == "counter" {
                at
            } else {
                at + rng.gen_range(0..20) * HOUR
            };
            out.push(Planned {
                at,
                station: station.clone(),
                kind,
                channel,
                category,
                severity,
                customer: member.map(|m| m.0.clone()),
                pump: None,
            });
        }
        // The faulty pump: some of its fills bring a metering complaint.
        if let Some((code, pump)) = faulty.filter(|f| f.0 == station && *date >= faulty_from) {
            for m in day.members.iter().filter(|m| m.2 == Some(pump)) {
                if rng.gen_bool(FAULTY_COMPLAINT_SHARE) {
                    out.push(Planned {
                        at: m.1 + rng.gen_range(2..30) * MINUTE,
                        station: code.to_string(),
                        kind: "complaint",
                        channel: "counter",
                        category: "metering",
                        severity: "high",
                        customer: Some(m.0.clone()),
                        pump: Some(pump),
                    });
                }
            }
        }
    }
    out.sort_by_key(|p| p.at);
    out
}

/// The steps a ticket of this kind goes through, with the delay before each (before
/// moving into the desk's hours) and its note. A slow ticket answers late.
fn steps(p: &Planned, rng: &mut ChaCha8Rng) -> Vec<(i64, EventBody)> {
    let slow = rng.gen_bool(0.08);
    let first = if slow {
        rng.gen_range(6..40) * HOUR
    } else {
        rng.gen_range(10..150) * MINUTE
    };
    let step = |action: &str, note: Option<&str>| EventBody {
        action: action.into(),
        note: note.map(str::to_string),
        assignee: None,
        csat: None,
        at: None,
    };
    let mut out = vec![(first, step("respond", Some("已联系客户，了解情况。")))];
    match p.kind {
        "complaint" => {
            out.push((
                rng.gen_range(1..12) * HOUR,
                step("investigate", Some("调取监控和交易记录核实。")),
            ));
            if rng.gen_bool(0.12) {
                out.push((
                    rng.gen_range(1..4) * HOUR,
                    step("wait_customer", Some("等待客户提供小票照片。")),
                ));
                out.push((
                    rng.gen_range(2..30) * HOUR,
                    step("resume", Some("客户已提供材料。")),
                ));
            }
            let solution = match p.category {
                "metering" => "安排计量检定，按差额补偿客户。",
                "invoice" => "补开发票并快递给客户。",
                "waiting" => "高峰时段增开收银台和加油枪。",
                "points" | "card" => "核实后补录，并向客户致歉。",
                _ => "向客户致歉，对相关员工进行培训。",
            };
            out.push((rng.gen_range(4..36) * HOUR, step("propose", Some(solution))));
            out.push((
                rng.gen_range(4..36) * HOUR,
                step("implement", Some("方案已落实。")),
            ));
            if rng.gen_bool(0.1) {
                for _ in 0..3 {
                    out.push((
                        rng.gen_range(2..20) * HOUR,
                        step("unreachable", Some("电话无人接听。")),
                    ));
                }
            } else {
                let csat = *pick(rng, &[(5i64, 40), (4, 30), (3, 15), (2, 10), (1, 5)]);
                let note = if csat >= 4 {
                    "客户对处理结果满意。"
                } else {
                    "客户认为处理不够及时。"
                };
                out.push((
                    rng.gen_range(8..72) * HOUR,
                    EventBody {
                        csat: Some(csat),
                        ..step("callback", Some(note))
                    },
                ));
            }
            out.push((rng.gen_range(10..120) * MINUTE, step("close", None)));
            if rng.gen_bool(0.03) {
                out.push((
                    rng.gen_range(6..72) * HOUR,
                    step("reopen", Some("客户反映问题再次出现。")),
                ));
            }
        }
        "service_request" => {
            out.push((
                rng.gen_range(1..6) * HOUR,
                step("propose", Some("已登记需求。")),
            ));
            out.push((
                rng.gen_range(4..48) * HOUR,
                step("implement", Some("已办理完成。")),
            ));
            out.push((rng.gen_range(1..4) * HOUR, step("close", None)));
        }
        _ => out.push((
            rng.gen_range(1..72) * HOUR,
            step("close", Some("已答复并感谢客户。")),
        )),
    }
    out
}

async fn staff(app: &App, username: &str) -> anyhow::Result<StaffUser> {
    app.store()
        .user_by_username(username)
        .await?
        .with_context(|| format!("no user {username}"))
}

pub(crate) fn app_err(what: &str) -> impl Fn(forecourt_app::AppError) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {}: {}", e.code, e.message)
}

/// Sets up the desk (a calendar for every station, the SLA targets) and writes the
/// tickets and survey answers of the feed. `handlers` names each station's manager
/// (by station code); `admin` sets up and runs the surveys.
pub async fn run(
    app: &App,
    feed: &Feed,
    admin: &str,
    handlers: &BTreeMap<String, String>,
    seed: u64,
    now_us: i64,
) -> anyhow::Result<DeskSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0de5_c0de);
    let admin = staff(app, admin).await?;
    let mut hours = serde_json::Map::new();
    for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
        hours.insert(
            d.into(),
            json!([[format!("{DESK_OPEN:02}:00"), format!("{DESK_CLOSE:02}:00")]]),
        );
    }
    service_desk::put_calendar(
        app,
        &admin,
        None,
        "station-desk",
        CalendarBody {
            timezone: "Asia/Shanghai".into(),
            hours: Value::Object(hours),
            holidays: Vec::new(),
            workdays: Vec::new(),
            workday_hours: None,
        },
    )
    .await
    .map_err(app_err("calendar"))?;
    for (severity, first, resolution) in [
        ("critical", 30, 240),
        ("high", 60, 720),
        ("normal", 240, 1_440),
        ("low", 480, 2_880),
    ] {
        service_desk::put_policy(
            app,
            &admin,
            None,
            severity,
            PolicyBody {
                first_response_minutes: first,
                resolution_minutes: resolution,
            },
        )
        .await
        .map_err(app_err("SLA policy"))?;
    }
    let stations: Vec<String> = {
        let mut s: Vec<String> = feed.days.keys().map(|k| k.1.clone()).collect();
        s.sort();
        s.dedup();
        s
    };
    for code in &stations {
        service_desk::assign_calendar(app, &admin, None, code, "station-desk")
            .await
            .map_err(app_err("station calendar"))?;
    }
    let mut summary = DeskSummary::default();
    let Some(from) = feed.from else {
        return Ok(summary);
    };
    let end = feed.days.keys().map(|k| k.0).max().unwrap_or(from);

    // The faulty pump: the busiest pump of one station.
    let faulty = stations
        .get(rng.gen_range(0..stations.len().max(1)))
        .and_then(|code| {
            let mut by_pump: BTreeMap<i64, u32> = BTreeMap::new();
            for ((_, s), d) in &feed.days {
                if s == code {
                    for p in d.members.iter().filter_map(|m| m.2) {
                        *by_pump.entry(p).or_default() += 1;
                    }
                }
            }
            let pump = by_pump
                .into_iter()
                .max_by_key(|(p, n)| (*n, -*p))
                .map(|(p, _)| p)?;
            Some((code.clone(), pump))
        });

    let mut users = BTreeMap::new();
    for (code, name) in handlers {
        users.insert(code.clone(), staff(app, name).await?);
    }
    for p in plan(
        feed,
        faulty.as_ref().map(|(c, p)| (c.as_str(), *p)),
        end,
        &mut rng,
    ) {
        if p.at >= now_us {
            continue;
        }
        let me = users.get(&p.station).unwrap_or(&admin);
        let description = description(p.kind, p.category, p.pump, &mut rng);
        // A member writes from the portal themself; the rest is taken by the staff.
        let id = match &p.customer {
            Some(customer) if p.channel == "portal" && p.kind != "service_request" => {
                match service_desk::open_member_ticket(
                    &app.with_clock(Clock::fixed(p.at)),
                    customer,
                    None,
                    MemberTicketBody {
                        kind: p.kind.into(),
                        category: p.category.into(),
                        station_code: Some(p.station.clone()),
                        description,
                    },
                )
                .await
                {
                    Ok(id) => id,
                    // The portal's limit of tickets a day: this one is not sent.
                    Err(e) if e.code == "rate_limited" => continue,
                    Err(e) => return Err(app_err("portal ticket")(e)),
                }
            }
            _ => {
                service_desk::open_ticket(
                    app,
                    me,
                    None,
                    TicketBody {
                        kind: p.kind.into(),
                        channel: p.channel.into(),
                        station_code: p.station.clone(),
                        category: p.category.into(),
                        severity: p.severity.into(),
                        customer_id: p.customer.clone(),
                        description,
                        opened_at: Some(forecourt_app::clock::rfc3339(p.at)),
                    },
                )
                .await
                .map_err(app_err("ticket"))?
                .id
            }
        };
        summary.tickets += 1;
        let mut at = p.at;
        let mut closed = false;
        for (delay, mut body) in steps(&p, &mut rng) {
            at = in_desk_hours(at + delay, &mut rng);
            if at >= now_us {
                break;
            }
            closed = body.action == "close";
            body.at = Some(forecourt_app::clock::rfc3339(at));
            service_desk::apply_event(app, me, None, &id, body)
                .await
                .map_err(app_err("ticket step"))?;
            summary.steps += 1;
        }
        if !closed {
            summary.open += 1;
        }
    }

    // A weekly survey of members who visited that week.
    let created = surveys::create_survey(
        app,
        &admin,
        None,
        SurveyBody {
            name: "加油体验满意度调查".into(),
            questions: vec![
                QuestionBody {
                    kind: "nps".into(),
                    text: "您有多大可能向亲友推荐我们的加油站？".into(),
                    options: Vec::new(),
                },
                QuestionBody {
                    kind: "rating".into(),
                    text: "您对本次加油服务的满意程度如何？".into(),
                    options: Vec::new(),
                },
                QuestionBody {
                    kind: "choice".into(),
                    text: "您最看重哪一方面？".into(),
                    options: ["油品质量", "服务态度", "等候时间", "价格优惠", "便利店商品"]
                        .map(String::from)
                        .to_vec(),
                },
                QuestionBody {
                    kind: "text".into(),
                    text: "还有什么想对我们说的？".into(),
                    options: Vec::new(),
                },
            ],
            after_ticket_close: false,
        },
    )
    .await
    .map_err(app_err("survey"))?;
    let survey_id = created["id"].as_str().context("survey id")?.to_string();
    summary.survey_id = Some(survey_id.clone());
    // Each station's service, from -1 (poor) to 1 (excellent); the faulty pump's
    // station is the poorest.
    let quality: BTreeMap<&str, f64> = stations
        .iter()
        .map(|s| {
            let q = if faulty.as_ref().is_some_and(|f| &f.0 == s) {
                -0.8
            } else {
                rng.gen_range(-0.4..0.9)
            };
            (s.as_str(), q)
        })
        .collect();
    let mut week_start = from;
    while week_start <= end {
        let week_end = week_start + chrono::Duration::days(6);
        let mut visitors: BTreeMap<&str, &str> = BTreeMap::new();
        for ((date, station), day) in feed.days.range((week_start, String::new())..) {
            if *date > week_end {
                break;
            }
            for m in &day.members {
                visitors.entry(m.0.as_str()).or_insert(station.as_str());
            }
        }
        let mut chosen: Vec<(&str, &str)> = visitors.into_iter().collect();
        chosen.shuffle(&mut rng);
        chosen.truncate(INVITED_PER_WEEK);
        let invited_at = forecourt_sim::local_us(week_end, 10 * 60);
        if invited_at >= now_us {
            break;
        }
        week_start = week_end + chrono::Duration::days(1);
        if chosen.is_empty() {
            continue;
        }
        let at_invite = app.with_clock(Clock::fixed(invited_at));
        let out = surveys::invite(
            &at_invite,
            &admin,
            None,
            &survey_id,
            InvitationsBody {
                customer_ids: chosen.iter().map(|c| c.0.to_string()).collect(),
            },
        )
        .await
        .map_err(app_err("invitations"))?;
        let stations_of: BTreeMap<&str, &str> = chosen.iter().copied().collect();
        for inv in out["invitations"].as_array().into_iter().flatten() {
            let (Some(customer), Some(token)) =
                (inv["customer_id"].as_str(), inv["token"].as_str())
            else {
                continue;
            };
            summary.invited += 1;
            if !rng.gen_bool(0.4) {
                continue;
            }
            let answered_at = invited_at + rng.gen_range(10..2_880) * MINUTE;
            if answered_at >= now_us {
                continue;
            }
            let q = stations_of
                .get(customer)
                .and_then(|s| quality.get(s))
                .copied()
                .unwrap_or(0.0);
            // A score around 8 moved by the station's quality, clamped to 0–10.
            let nps = (8.8 + 2.0 * q + rng.gen_range(-3.5..2.5f64))
                .round()
                .clamp(0.0, 10.0) as i64;
            let rating = ((nps as f64 / 2.2) + rng.gen_range(0.0..1.2))
                .round()
                .clamp(1.0, 5.0) as i64;
            let choice =
                ["油品质量", "服务态度", "等候时间", "价格优惠", "便利店商品"][rng.gen_range(0..5)];
            let text = match nps {
                0..=6 => "希望改进排队和服务。",
                7..=8 => "",
                _ => "服务很好，会继续来。",
            };
            surveys::answer(
                &app.with_clock(Clock::fixed(answered_at)),
                token,
                AnswerBody {
                    answers: vec![json!(nps), json!(rating), json!(choice), json!(text)],
                },
            )
            .await
            .map_err(app_err("survey answer"))?;
            summary.answered += 1;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use forecourt_app::service_desk::TicketQuery;
    use forecourt_app::{Config, Secret};
    use forecourt_sim::Params;
    use forecourt_store::testing::fresh_db;
    use forecourt_store::{Store, Vault};

    /// What a desk simulation leaves, in a form two runs can be compared by.
    async fn desk(
        seed: u64,
    ) -> (
        DeskSummary,
        Vec<(String, String, String, String, String)>,
        Value,
    ) {
        let end = NaiveDate::from_ymd_opt(2026, 2, 20).expect("a date");
        let p = Params {
            stations: 3,
            customers: 1_500,
            days: 40,
            seed,
            end,
            walk_ins_per_station_day: 10,
        };
        let url = fresh_db().await.expect("a fresh database");
        let store = Store::open(&url, Vault::for_tests()).await.expect("open");
        let sim = crate::simulate::populate(&store, p)
            .await
            .expect("simulate");
        forecourt_app::network::create_user(&store, "hq", "admin", None, "Desk-test-pass-1")
            .await
            .expect("admin");
        let mut handlers = BTreeMap::new();
        for s in store.stations().await.expect("stations") {
            let name = format!("m-{}", s.code.to_lowercase());
            let scope = format!("station:{}", s.code);
            forecourt_app::network::create_user(
                &store,
                &name,
                "station_manager",
                Some(&scope),
                "Desk-test-pass-1",
            )
            .await
            .expect("manager");
            handlers.insert(s.code, name);
        }
        let now = forecourt_sim::local_us(end + chrono::Duration::days(1), 9 * 60);
        let app = App::new(
            store.clone(),
            Secret::from_bytes([7; 32]),
            Config::default(),
        )
        .with_clock(Clock::fixed(now));
        let summary = run(&app, &sim.desk, "hq", &handlers, seed, now)
            .await
            .expect("desk");
        let hq = store
            .user_by_username("hq")
            .await
            .expect("read")
            .expect("hq");
        let tickets = service_desk::list_tickets(
            &app,
            &hq,
            TicketQuery {
                station: None,
                state: None,
                kind: None,
                breached: None,
                limit: Some(1_000),
            },
        )
        .await
        .expect("tickets");
        let mut rows: Vec<_> = tickets
            .iter()
            .map(|t| {
                (
                    t.opened_at.clone(),
                    t.station_code.clone(),
                    t.kind.clone(),
                    t.category.clone(),
                    t.state.clone(),
                )
            })
            .collect();
        rows.sort();
        let survey = summary.survey_id.clone().expect("a survey");
        let results = surveys::results(&app, &hq, &survey).await.expect("results");
        (summary, rows, results)
    }

    #[tokio::test]
    async fn the_demo_desk_has_a_live_queue_a_faulty_pump_and_survey_answers() {
        let (summary, tickets, results) = desk(2026).await;
        assert_eq!(summary.tickets, tickets.len());
        assert!(summary.tickets >= 20, "{summary:?}");
        // A live queue: some tickets still open, most closed, in more than two states.
        let open = tickets.iter().filter(|t| t.4 != "closed").count();
        assert_eq!(open, summary.open);
        assert!(
            open >= 1 && open < tickets.len() / 2,
            "{open} of {}",
            tickets.len()
        );
        // Every kind comes, and complaints most.
        let complaints = tickets.iter().filter(|t| t.2 == "complaint").count();
        for kind in ["complaint", "suggestion", "praise", "inquiry"] {
            assert!(tickets.iter().any(|t| t.2 == kind), "no {kind}");
        }
        for kind in ["suggestion", "praise", "inquiry", "service_request"] {
            assert!(complaints > tickets.iter().filter(|t| t.2 == kind).count());
        }
        // The faulty pump: one station has more metering complaints than the others
        // together.
        let mut metering: BTreeMap<&str, usize> = BTreeMap::new();
        for t in tickets.iter().filter(|t| t.3 == "metering") {
            *metering.entry(t.1.as_str()).or_default() += 1;
        }
        let most = metering.values().max().copied().unwrap_or(0);
        let total: usize = metering.values().sum();
        assert!(most >= 3 && most * 2 > total, "{metering:?}");
        // Survey answers are the survey's responses.
        assert!(summary.answered >= 30, "{summary:?}");
        assert_eq!(results["responses"].as_u64(), Some(summary.answered as u64));
        assert!(results["nps"].is_number());
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_desk() {
        let a = desk(7).await;
        let b = desk(7).await;
        assert_eq!(a.1, b.1);
        // The survey's id is new each time; its results are the same.
        let figures = |mut v: Value| {
            v["survey_id"].take();
            v
        };
        assert_eq!(figures(a.2), figures(b.2));
    }
}
