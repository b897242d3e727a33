"""The ledger's codes and their Chinese labels, each written once: how an entry came in (kind,
source), why a call ended or was missed, the fields a clerk confirms and the audit trail's
actions. The statuses are in `ledger.lifecycle`; the site's categories, departments and
complaint subjects in its drafting rules file (`drafting.terms.SiteTerms`).

Exports, reports, API messages and the panel (`GET /api/meta` → `vocab`) read them from here.
Dicts are code -> label, in display order.
"""

from __future__ import annotations

from collections.abc import Mapping

CALL, MISSED_CALL, MANUAL = "call", "missed_call", "manual"
ENTRY_KINDS: Mapping[str, str] = {CALL: "来电", MISSED_CALL: "未接来电", MANUAL: "手工登记"}

# 首接负责制 sources (DOMAIN.md): information reaches the front desk by these ways.
PHONE = "phone"
SOURCES: Mapping[str, str] = {PHONE: "电话", "walk_in": "前台来访", "staff": "员工收集", "company": "公司转达",
                              "committee": "业委会", "verbal": "口头告知员工", "written": "书面"}
# What a clerk may pick for an entry taken by hand (the phone's entries come from calls).
MANUAL_SOURCES = tuple(s for s in SOURCES if s != PHONE)

# Why an answered call ended (Call.end_reason); telephony reports the first six, recovery
# 'interrupted' (the process died mid-call); callbacks placed by a clerk add their own.
END_REASONS: Mapping[str, str] = {"caller_hangup": "来电挂断", "agent_hangup": "系统挂断", "rtp_timeout": "通话中断",
                                  "hold_timeout": "保持超时挂断", "agent_stopped": "系统停止服务时挂断",
                                  "error": "故障", "interrupted": "中断", "clerk_hangup": "坐席挂断"}
# Ends after which the resident may not have been served: the call was cut, not finished. Each
# opens a callback task on the missed-call clock (workflow.callback_tasks), its reason the code
# itself. Not here: caller_hangup (the caller chose to end it; one who hangs up while being
# transferred is a `call.person` step, 'caller_gone') and agent_hangup (the script finished).
CUT_OFF_END_REASONS = ("interrupted", "rtp_timeout", "hold_timeout", "agent_stopped", "error")
# Why a call is owed on the missed-call clock (CallbackTask.reason of a missed_call task).
CALLBACK_REASONS: Mapping[str, str] = {
    "missed": "未接来电", "person_unanswered": "转人工无人接听", "person_nobody": "转人工无人在岗",
    "caller_gone": "转接中来电人挂断", "interrupted": "通话中断（系统故障）", "rtp_timeout": "通话中断（线路无声）",
    "hold_timeout": "保持超时被挂断", "agent_stopped": "通话中断（系统停止服务）", "error": "通话中断（通话故障）"}
# Why a call was not answered (the missed-call entry's summary says it).
MISSED_REASONS: Mapping[str, str] = {"cancelled": "振铃时挂断", "busy": "线路忙", "error": "接听失败",
                                     "refused_420": "话机要求的SIP扩展不支持", "refused_488": "话机的媒体格式无法接通",
                                     "refused_415": "话机的呼叫格式无法识别", "refused_406": "话机不接受通话所需的媒体描述"}

# Where a call's transcript stands (Call.transcript_status; "done" is not shown).
TRANSCRIPT_STATUSES: Mapping[str, str] = {"pending": "待处理", "live": "进行中", "queued": "排队中", "failed": "失败",
                                          "unavailable": "不可用"}

# The fields drafting proposes and a clerk confirms (corrections are measured on these).
DRAFT_FIELDS = ("caller_name", "unit", "category", "department", "urgent", "summary")
EDITABLE_FIELDS = (*DRAFT_FIELDS, "status")
# Field names as the audit trail and the corrections name them.
ENTRY_FIELDS: Mapping[str, str] = {"caller_name": "来电人", "unit": "房号", "category": "类别", "department": "部门",
                                   "urgent": "紧急", "summary": "摘要", "status": "状态", "owner": "首接人",
                                   "call": "通话", "source": "来源", "satisfaction": "满意度"}

# The audit trail's actions (AuditLog.action), by whoever writes them: the ledger, the workflow, QA.
AUDIT_ACTIONS: Mapping[str, str] = {
    "urgent_ack": "知悉紧急", "registered": "来电登记", "missed_call": "未接来电", "draft_ready": "草稿生成",
    "merged": "合并", "repeat_call": "重复来电", "repeat_reason": "重复依据", "interrupted": "通话中断",
    "update": "修改", "confirm": "确认登记", "created": "手工登记", "linked_call": "关联来电", "linked_away": "并入他单",
    "transition": "状态变更", "callback": "回访结果", "note": "备注", "callback_call": "外呼回访",
    "work_order": "派工单", "callback_task": "回访任务", "callback_attempt": "回访记录", "handover_ack": "确认交接",
    "qa_auto": "自动预评分", "qa_override": "质检改判", "qa_reviewed": "质检复核", "training_added": "加入训练集",
    "training_export": "导出训练片段",
    "person_urgent": "通话中识别紧急", "person_answered": "转人工接通", "person_unanswered": "转人工无人接听",
    "person_nobody": "转人工无人在岗", "person_ended": "转人工通话结束", "person_listening": "监听",
    "person_caller_gone": "转接中来电人挂断", "person_refused": "接听/监听未成功（通话已结束）",
}
# What happened between a caller and the staff during the call (call.person events' step).
PERSON_STEPS: Mapping[str, str] = {"urgent": "已识别紧急情况，正在通知值班人员", "answered": "已接通",
                                   "unanswered": "转人工无人接听，已建回拨任务", "nobody": "无人在岗，已建回拨任务",
                                   "caller_gone": "转接中来电人挂断，已建回拨任务",
                                   "ended": "人工通话结束", "listening": "主管监听中",
                                   "refused": "通话已结束，未能接通"}
URGENT_DETECTED = "person_urgent"  # the audit row of urgency heard during the call: the urgent clock's start
# How the agent took a call (Call.intake_path): it says so when no live recognizer was free.
INTAKE_PATHS: Mapping[str, str] = {"speech": "语音识别", "keypad": "按键"}


def label_of(labels: Mapping[str, str], code: str) -> str:
    """The label of `code`, or the code itself when it has none (an old row, a new code)."""
    return labels.get(code, code)
