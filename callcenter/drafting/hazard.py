"""Urgent hazards (信息性质: 重要) in what a caller says, recall first.

`detect_hazard(text)` is a fast pure function, safe to call on the partial transcript every
turn: it names the hazard class (which picks the safety prompt and the duty roster) and the
words behind it, or None. The table below is the readable knowledge; the context checks
drop a trigger that is negated ("没有漏气", "不是着火"), hypothetical ("担心哪天着火"),
past ("上个月着火那户"), resolved ("已经修好了"), planned ("明天是不是停电") or minor
("水龙头有点滴水，不急"). Everything runs on the normalised text (spaces removed, known ASR
confusions fixed), so "燃起 味" and "电题 关 人" are found as 燃气味 and 电梯关人.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .fields import Evidence
from .normalize import normalized

HAZARDS: tuple[str, ...] = (
    "gas", "fire", "water", "lift", "injury", "electric", "falling", "crime", "power", "locked_in", "missing",
)  # fmt: skip
# Which hazards are people's safety (求助 → 安保) and which are facilities (报修 → 工程): LABELS.md.
SAFETY_HAZARDS = frozenset({"gas", "fire", "crime", "injury", "missing", "locked_in"})
HAZARD_NAMES = {
    "gas": "燃气泄漏", "fire": "火情", "water": "跑水漏水", "lift": "电梯困人", "injury": "人员受伤",
    "electric": "漏电打火", "falling": "高空坠物", "crime": "治安案件", "power": "突然停电",
    "locked_in": "人员被锁", "missing": "人员走失",
}  # fmt: skip


def hazard_route(hazard: str) -> tuple[str, str]:
    """(category, department) the labelling conventions give a call about this hazard."""
    return ("求助", "安保") if hazard in SAFETY_HAZARDS else ("报修", "工程")


# A negation word, not the same character inside another word: 不 of 不停/开不了 and 别 of
# 特别/别人 do not negate ("味儿特别大，跟燃气灶一个味" is a gas smell).
_NEG = "(?:没|不(?!动|了|行|停|开|见|断|住|少|得|知|到|管|然|过|对|好|清|上|下|出|进|应|接|敢|利)|(?<![特分区级性告类])别(?!人|的|家|处|墅)|未(?!来)|(?<![有])无(?!法|论|数|人))"  # noqa: E501


def _gap(n: int) -> str:
    # A gap between the parts of a trigger: never across a negation or a clause boundary,
    # so "燃气没有漏" and "燃气费。楼道有味" do not match 燃气…漏/味.
    return f"(?:(?!{_NEG})[^，。！？；,.!?;…]){{0,{n}}}?"


def _span(n: int) -> str:
    # A wider gap that may cross a clause boundary ("电梯卡住了，她在里面"), never a negation.
    return f"(?:(?!{_NEG}).){{0,{n}}}?"


def _near(n: int) -> str:
    # Two concepts in the same stretch of talk, whatever lies between ("独居的大爷…今天一天没见着人，
    # 敲门也不应"); the second part's own negation is checked where it starts (group "core").
    return f".{{0,{n}}}?"


# Who can be in danger, as callers name them (kinship, dialect, age).
_KIN = "(?:双胞胎|孩子|小孩|小孩子|孩儿|娃|娃娃|娃儿|小朋友|宝宝|宝贝|婴儿|儿子|女儿|闺女|丫头|小囡|囡囡|孙子|孙女|外孙|外孙女|男孩|女孩|小伙子)"  # noqa: E501
_ELDER = "(?:老人|老人家|老太太|老太|老头|老头子|老爷子|老爷爷|老奶奶|大爷|大妈|奶奶|爷爷|姥姥|姥爷|外婆|外公|阿嫲|阿婆|阿公|阿爷|婆婆|公公|我爸|我妈|老妈|老爸|老伴|老伴儿|老两口|老父亲|老母亲|老娘|家父|家母)"  # noqa: E501
_ELDER_OR_CHILD = f"(?:{_KIN}|{_ELDER}|[一二两三四五六七八九十几\\d]+岁)"
_PERSON = f"(?:人|{_ELDER_OR_CHILD}|阿姨|我老婆|我老公|我媳妇|媳妇|学生|孕妇|小哥|保洁|保安|师傅|邻居|业主|他|她|我)"
_GASWORD = "(?:煤气|燃气|天然气|液化气|煤气罐|气罐)"
_GAS_PLACE = "(?:燃气灶|煤气灶|灶台|灶具|灶头|灶上|灶那|气表|燃气表|表箱|燃气管|气管|阀门|热水器|壁挂炉)"
_SMELL = "(?:味|味道|味儿|气味|臭味|怪味)"
_DEVICE = "(?:插座|插排|插线板|开关|电线|线头|线路|配电箱|电箱|电表箱|电表|电闸|充电桩|漏保|空开|空气开关|灯座|灯头|电源|电路|电器|电视|冰箱|洗衣机|热水器|空调)"  # noqa: E501
_LIFT = "(?:电梯|货梯|梯子里|轿厢)"
# Someone is inside a lift that will not let them out (a stopped lift alone is a repair).
_LIFT_STUCK = "(?:困|关着|关了|关住|关(?:到|起)(?!一半)|卡着人|出不来|出不去|在里面|在里头|里面有|里头有|拍门|扒不开|门开不了|门打不开|开不了门|被关|按警铃|紧急按钮|卡在(半道|半空|中间|半截|两层|楼层中间))"  # noqa: E501
_HIGH_THING = "(?:广告牌|招牌|牌子|灯箱|空调外机|外机|玻璃|窗玻璃|窗户|窗框|瓷砖|外墙|墙皮|墙砖|树枝|大树|花盆|雨棚|遮阳棚|架子|支架|防盗网|栏杆|护栏|吊顶|天花板|顶棚|雨搭|女儿墙|屋檐|檐口|石膏线|灯罩|吊灯)"  # noqa: E501
# Hanging loose up high, about to come down (a crack or a stain is a repair).
_LOOSE = "(?:歪了|歪着|松了|松动|松掉|晃|斜着挂|斜挂|斜着吊|悬着|吊着|耷拉|锈断|断了一|要脱落|快脱落)"


@dataclass(frozen=True)
class _Trigger:
    hazard: str
    pattern: re.Pattern[str]
    confidence: float
    # Cuts announced in advance are inquiries ("明天停电吗"), not emergencies.
    plannable: bool = False
    # "不急", "有点滴水": a facility fault the caller calls minor is not an emergency.
    minor_applies: bool = False
    # "快掉了，怕砸到人", "随时会掉" is about to happen: fear words do not make it hypothetical.
    fear_is_real: bool = False
    # Habits describe the person ("她经常认不得路"): they do not put the event in the past.
    habitual_ok: bool = False
    # A match whose own words, or the few words before it, say it is something else
    # ("孩子把钥匙弄丢了", "信箱被人撬了", "喷头往路上喷水").
    exclude: re.Pattern[str] | None = None


def _t(hazard: str, pattern: str, confidence: float = 0.95, *, exclude: str | None = None, **kw: bool) -> _Trigger:
    return _Trigger(hazard, re.compile(pattern), confidence, exclude=re.compile(exclude) if exclude else None, **kw)


G3, G6, G10, G16 = _gap(3), _gap(6), _gap(10), _gap(16)
X6, X12, X20, X30, X40 = _span(6), _span(12), _span(20), _span(30), _span(40)
N30, N60 = _near(30), _near(60)

# The trigger table. Where two triggers overlap, the longer match wins ("插座冒烟" is an
# electric fault, not a fire); otherwise the class listed first. A group named "core" is the
# part a negation right before it takes back ("孩子…没有被锁").
TRIGGERS: tuple[_Trigger, ...] = (
    # electric before fire: a socket or wire smoking or sparking is the electrician's job first
    _t("electric", rf"{_DEVICE}{G6}(冒.?烟|冒火|起火|着火|烧着|烧起来|烧焦|烧了|打火|火花|火星|火光|噼啪|噼里啪啦|滋滋|滋啦|嗞啦|刺啦|冒蓝光|蓝光|电弧|冒黑烟|冒白烟|发烫冒)"),  # noqa: E501
    _t("electric", r"触电|电到人|电人|被电(了|到|一下|麻|打|击)|电打(了|到)|打到电|电击|电麻|麻手|手.{0,3}麻得|漏电(?!保护|开关)|冒火花|打火花|火花|冒火星|火星子|冒火光|打火(?!机)|带电(?!梯)", exclude="烟花|鞭炮|炮仗|电焊|焊"),  # noqa: E501
    _t("electric", rf"(电线|线头|铜丝|电缆){G10}(露|裸|破皮|断|垮|掉|耷拉|垂|拖在地)|线{G6}(露着|露出来|露在外|裸露|耷拉|垂下来|拖在地)|(露|裸)着?{G3}(电线|线头|铜丝)"),  # noqa: E501
    _t("fire", r"着火|起火|失火|火灾|烧起来|燃起来|烧着了|着起来|火着了|火苗|明火|火势|火烧|点着了|烧起|蹿火|窜火|火苗子|招火"),  # noqa: E501
    # smoke: not a barbecue's, a kitchen's or a cigarette's
    _t("fire", r"冒黑烟|浓烟|全是烟(?!头|味)|都是烟(?!头|味)|烟很大|好大的烟|往外冒烟|冒烟|焦糊|糊味|烧糊|糊了的味|糊的味|烧焦味|烧塑料|呛人的烟|黑烟|烟好大|烟太大|烟特别大|烟老大",  # noqa: E501
       exclude="(烧烤|火锅|饭店|饭馆|餐馆|油烟|炒菜|炒辣椒|抽烟|香烟|蚊香|艾灸|烧香|烧纸|烟花|鞭炮).{0,8}$"),
    _t("fire", rf"(油烟机|烟道|窗帘|锅|油锅|被子|沙发|床|衣服|柜子|纸箱|垃圾桶|垃圾|电动车|电瓶车|车|厨房|屋里|阳台|楼道){G6}(?P<core>着了|烧了|点着|燃了|烧着)"),  # noqa: E501
    _t("gas", rf"{_GASWORD}{X12}(漏|泄)|{_GASWORD}{G10}(味|嘶|呲|冲|臭)|{_SMELL}{X12}{_GASWORD}|漏气|跑气|泄漏|臭鸡蛋味|像臭鸡蛋|臭鸡蛋(那种|那样|似的|一样)|不敢(开|按|点)(灯|开关|火)|{_GASWORD}[！!]|气{G3}漏了|{_GASWORD}.{{0,4}}没关(?!系)"),  # noqa: E501
    _t("gas", rf"{_GAS_PLACE}{X20}{_SMELL}|{_SMELL}{X20}{_GAS_PLACE}|(燃气|煤气|天然气)报警器{G10}(响|叫|报警|滴滴|嘀嘀)"),
    _t("gas", rf"(嘶嘶|呲呲|滋滋|呼呼|丝丝){N30}(?P<core>{_SMELL}|头晕|晕|气)"),
    _t("gas", rf"{_SMELL}{N30}(?P<core>嘶嘶|呲呲|呼呼)"),
    _t("gas", rf"火{G3}灭了{N30}(?P<core>气|{_SMELL})"),
    _t("lift", rf"{_LIFT}{X30}{_LIFT_STUCK}"),
    _t("lift", rf"(电梯|电梯井){X20}(有人喊|有人叫|喊救命|有人在喊|有人拍)"),
    _t("lift", rf"在{_LIFT}(里|里面|里头){X40}(出不来|出不去|开不了|打不开|扒不开|不动|停|卡|困|救|快来|赶紧|警铃|铃|没人理|求求)"),  # noqa: E501
    _t("lift", rf"(困|关|卡|被关|被困|困住)在?{G3}{_LIFT}|困人|关人|把人关|人关(在)?(里头|里面)|关着人|关了{G3}人|人{G3}卡{G3}(里头|里面)"),
    _t("lift", rf"{_LIFT}{N30}(?P<core>(里头|里面|里边)(关|困|卡)(到|着|了|住|起)?.{{0,6}}{_ELDER_OR_CHILD}|{_ELDER_OR_CHILD}.{{0,8}}(在里|关在|困在|出不来|在哭))"),  # noqa: E501
    _t("locked_in", rf"{_ELDER_OR_CHILD}{X20}(反锁|锁在|被锁|锁里|锁车里|关在|关车里|困在|出不来|门打不开|打不开门|开不了门|开不到|锁屋里|锁家里|锁(在)?(卫生间|屋|房间|家|车|阳台)里?|关(在)?(屋|房间|家|卫生间|阳台)里|从里面打不开)"),  # noqa: E501
    _t("locked_in", rf"(反锁|锁在|被锁|锁了|关在|关着|困在){X20}{_ELDER_OR_CHILD}|(车里|屋里|家里|阳台|卫生间){G3}(关着|锁着|困着){G3}{_ELDER_OR_CHILD}|把自己{G3}(锁|关)"),  # noqa: E501
    _t("locked_in", rf"(门.{{0,4}}(带上|关上|锁上|碰上|撞上)|锁门外|进不去){N30}(?P<core>{_ELDER_OR_CHILD}.{{0,12}}(在屋里|在里面|在家|在里头|一个人|门后|哭))"),  # noqa: E501
    _t("locked_in", rf"{_ELDER_OR_CHILD}{N30}(?P<core>在(屋里|里面|里头|门后)).{{0,20}}(进不去|打不开|开不了|钥匙)"),
    _t("locked_in", rf"(车里|车上|车内|后座){N30}(?P<core>{_ELDER_OR_CHILD})(.{{0,30}}(哭|锁|闷|关着|睡着|打不开))"),
    _t("locked_in", rf"车{G6}(锁着|关着|闷着)(个|一个|俩|两个)?{_ELDER_OR_CHILD}|车{X6}(里面|里头){G6}{_ELDER_OR_CHILD}{N30}(?P<core>锁|闷|憋|哭|关)"),
    _t("locked_in", rf"{_ELDER_OR_CHILD}.{{0,12}}(在车里|锁车里|车里)(.{{0,30}}(哭|锁|闷|关着|打不开|拍窗))"),
    _t("injury", rf"晕倒|昏倒|晕过去|昏过去|昏迷|(?<!叫都)叫不醒|不省人事|人事不省|倒地|倒在地|摔倒|滑倒|跌倒|绊倒|摔了|摔下来|摔下去|摔伤|起不来|爬不起来|站不起来|流血|出血|骨折|(胳膊|腿|骨头|手臂|手腕){G3}断了|受伤|撞了|撞倒|急救|救护车|(?<![0-9])120(?![0-9])|胸口疼|胸口痛|胸闷|喘不上气|喘不过气|说不出话|话都说不|口吐白沫|抽搐|抽过去|没呼吸|没意识|迷迷糊糊|神志不清|犯病|发病|心脏病|中风|脑梗|坐地上|瘫在|瘫倒|后脑勺着地|头着地", exclude="(按钮|按键|开关|盖子|马桶|水箱|按下去).{0,8}$|要断了$"),  # noqa: E501
    _t("injury", rf"{_PERSON}{G3}从{G10}(掉|摔|跌|滚)下来|躺(在)?地上"),
    _t("injury", rf"(独居|一个人住|自己住|一个人在家|孤寡|孤老|空巢|一个人生活|一个人过){N60}(?P<core>敲门.{{0,4}}(不应|没人应|没反应|没动静|不开)|电话.{{0,8}}(不接|没人接|打不通)|没人接|没见(着|到)?(人|他|她|出来)|联系不上|(喊|叫|敲)[^，。]{{0,4}}(没动静|没反应|没人应|不应))", 0.9, habitual_ok=True),  # noqa: E501
    _t("injury", rf"{_ELDER_OR_CHILD}{G16}(敲门不应|敲门没人|没人应|不应|不接|没人接|没动静|没见.{{0,3}}出来|联系不上)", 0.9),
    _t("missing", rf"{_ELDER_OR_CHILD}{X30}(走丢|走失|丢了|(找|寻)不(到|着|见)|不见了|没回来|没回家|没到家|没回|还没到|没到|联系不上|找遍|没找到|跑出去了|跑丢|没影|不见人影|没见人影|不见的|少了一个)|走丢|走失|人不见了|人找不到|(找|寻)不(着|见)人|唔见|搵唔到|冇见|找孩子|找小孩|找娃|(?<![美妇])(女|仔|崽)(不见了|走丢)", exclude="钥匙|卡|手机|包|证|东西|快递|车位|充电|猫|狗"),  # noqa: E501
    _t("missing", r"阿尔茨海默|老年痴呆|痴呆|脑子不清楚|记不清路|认不得路|不认得路|不记得路|糊里糊涂|糊涂了|记性不好.{0,10}(出门|没回|跑)", 0.85, habitual_ok=True),  # noqa: E501
    _t("crime", r"撬|小偷|偷东西|在偷|被偷|偷了|被盗|盗窃|入室|抢劫|抢了|打架|打起来|打人|动手了|拿刀|持刀|砍人|踹.{0,4}门|砸.{0,4}门|砸车(?!上)|翻进|翻墙进|闯进|拉车门|被人动过|跟踪|耍流氓|猥亵|非礼|翻乱|翻得乱|被翻|往里爬|往.{0,6}里爬|爬进|爬窗|翻窗|被人.{0,8}(拿走|顺走|偷走|抱走|搬走)|划车|一辆一辆.{0,3}(试|拉|看|划)|挨个.{0,3}(试|拉|拽|拧)|被人(推走|骑走|开走|偷)|拧.{0,4}门把手|尾随|跟着我进|往袋子里装|鬼鬼祟祟|形迹可疑", exclude="(信箱|信报箱|邮箱|报箱|奶箱|报纸|杂志|牛奶).{0,6}$|(虫子|虫|蚂蚁|蟑螂|老鼠|蛇|壁虎).{0,6}$"),  # noqa: E501
    _t("falling", r"掉下来(?!水|渣|灰|皮|漆)|掉下去|往下掉(?!水|渣|灰|皮|漆)|快掉|要掉|随时.{0,4}(掉|跌|落|塌|砸)|坠落|坠下|跌下|跌落|砸下来|砸到|砸着|砸在|砸中|塌了|塌下来|要塌|快塌|塌陷|坍塌|倒塌|要倒|快倒|往外歪|往下扔|往下丢|高空抛物|吊在外面|歪着挂|挂在那.{0,3}晃|晃悠|摇摇晃晃|晃啊晃|晃来晃去|被风(刮|吹)(翻|松|掉|歪|跑)", fear_is_real=True,
       exclude="(果子|果实|树叶|叶子|落叶|灰|渣|相框|纸屑|鸟屎|墙皮|白灰|腻子).{0,8}$"),  # noqa: E501
    _t("falling", rf"{_HIGH_THING}{X20}{_LOOSE}", 0.9, fear_is_real=True, exclude="(门|柜|抽屉|马桶|水龙头|椅子|桌子|床).{0,3}$"),  # noqa: E501
    _t("water", rf"爆了|爆管|爆裂|爆开|爆脱|(水管|管子|管道|消防管|阀门|角阀|接头|水表|暖气片?|软管|龙头){G6}(爆|裂|崩|断|掉了|脱|破了)|消防栓{G10}(喷|滋|呲|裂|爆)|崩开|崩了|喷水|往外喷|喷出来|水.{{0,3}}喷得|喷得到处|往外呲|呲水|往外滋|滋水|往外冒(?!.{{0,2}}(臭|味|气|烟))|冒水|冒出来(?!.{{0,2}}(臭|味|气|烟))|往外涌|往上涌|往上返|冒污水|冒脏水|往外头冒(?!.{{0,2}}(臭|味|气|烟))|(?<!烟)往上冒(?!.{{0,2}}(臭|味|气|烟))|往上翻(?!.{{0,2}}(臭|味|气|烟))|往上顶|倒灌(?!.{{0,4}}味)|返水|反水|返污水|水止不住|止不住|关不住|哗哗(?!(地|的)?响)|往下流|往下淌|往下冲|淹了|水淹|漫到|漫了|漫出|进水(?!口|管|阀)|(天花板|顶上|屋顶|吊顶){G6}(下雨|往下|流水|滴水|淌水)|往下掉水|水流了一地|全是水(?!泥)|都是水(?!泥)|一地的水|地上都是水",
       exclude="(喷头|喷灌|洒水|浇水|浇花|烟道|落水管|雨水管|冷凝|水箱|螺丝|钉).{0,14}$|一下雨|下雨(的时候|天)|每次下雨|一到下雨"),  # noqa: E501
    _t("water", r"往下滴|顺着.{0,8}(流|淌|滴|冲)|积水|漏水|渗水|渗漏|渗下来|滴水|漏到|漏雨|往下漏|在漏|还在漏|接满", minor_applies=True, exclude="(喷头|喷灌|洒水|浇水|浇花|外机|空调|冷凝).{0,14}$"),  # noqa: E501
    # "救命" alone says someone is in danger, not which danger: the class of any other trigger wins
    _t("injury", "救命", 0.9),
    _t("power", rf"(没电|停电|断电){N30}(?P<core>吸氧机|制氧机|呼吸机|透析)", 0.9, plannable=True),
    _t("power", rf"(吸氧机|制氧机|呼吸机){N30}(?P<core>没电|停电|断电)", 0.9, plannable=True),
    _t("power", rf"停电|断电|没电(?!钻|池|梯|瓶|脑|话|视|费)|没有电(?!梯|钻|池)|没得电|电(?!话|视|脑|梯|费|瓶|池|动|车|钻|线|筒)(都|也)没(有|了)|一点电都没(有|了)|电(一下子|突然|全|都)没了|(?<!灯)全黑|(整栋|整个|全楼|楼里|整层|整幢|这层){G6}黑了|(?<!天)都黑了|(开关|闸|空开){G6}推不上去|推上去.{{0,3}}(又|就)(掉|跳)", 0.9, plannable=True, minor_applies=True),  # noqa: E501
)

# Context around a trigger that takes it back (checked on the normalised text).
_NEGATION_BEFORE = ("没有", "没", "没人", "不", "不是", "并没", "并不是", "不会", "别", "未", "无", "不用", "不像")
_HYPOTHETICAL = re.compile(
    "担心|怕|万一|如果|要是|假如|假设|会不会|容易|迟早|哪天|以后|将来|防止|预防|以防|隐患|小心|演练|演习|以为|"
    "当成|还以为|想问|问问|能不能|怎么防|注意|真要|要是真|(?<!消)防(?!盗|水|护|滑|晒|尘|蚊|撞|火门|锈|腐|臭)|差点|"
    "下雨的时候|一下雨|下雨天|建议"
)
# Said earlier in the same sentence, these still frame the trigger ("我建议…，老人摔了太危险").
_HYPOTHETICAL_SENTENCE = re.compile("建议|如果|万一|要是|假如|假设")
_PAST = re.compile(
    "上个月|上月|上周|上礼拜|上星期|上次|上回|去年|前年|以前|之前|前几天|前阵子|前段时间|那次|当时|年前|"
    "昨天|昨晚|前天|上半年|那会儿|那回|那天|上趟|上一趟|前两天|前些天|前一阵|几天前|两天前|早些时候"
)
_HABITUAL = re.compile("天天|每天|经常|老是|总是|有时候|有时|有的时候|动不动")
_PRESENT = re.compile("现在|刚|正在|还在|又|今天|突然|一直|马上|快来|快点|赶紧|此刻|这会儿|立刻|随时|越来越")
_RESOLVED_AFTER = re.compile(
    r"^.{0,4}(已经|早就|早)?(修好|好了|恢复了?|来电了|解决了|(?<!灯)(?<!灯也)(?<!灯都)灭了|处理好|处理完|没事了|没了|消了|散了)"
)
_PLANNED_BEFORE = re.compile(
    "明天|后天|下周|下礼拜|下星期|下个月|周[一二三四五六日末]|星期|礼拜[一二三四五六天日]|几号|今晚|计划|检修|"
    "通知|要|会|将|几点|什么时候|多久"
)
_MINOR = re.compile(
    "不急|不着急|不碍事|有点滴|一两滴|滴滴答答|滴答|慢慢|一点点|关不紧|关不严|现在.{0,2}干|没在滴|不下了|不下雨|没下雨|"
    "没得事|天晴了"
)
# After a trigger: a topic named rather than happening ("停电的事我要投诉"), an announcement
# ("停水停电的通知"); "咋办" only after 真 ("真困人了咋办"): "突然没电了，咋整啊" is happening.
_AFTER_NOT_NOW = re.compile(r"^了?.{0,2}(的事|那事|那件事)")
_WHAT_IF = "(咋办|怎么办|咋整|怎么整|可咋)"
# "掉下去咋整" (what if): the question follows the trigger directly; "真困人了咋办" after 真.
_WHAT_IF_AFTER = re.compile(f"^了?.{{0,2}}{_WHAT_IF}")
_WHAT_IF_DIRECT = re.compile(f"^{_WHAT_IF}")
# "滑倒了谁负责": a rhetorical question about what could happen.
_RHETORICAL_AFTER = re.compile(r"^了?.{0,2}(谁负责|谁管|谁赔|算谁的)")
# "跟着火了似的": a simile.
_SIMILE_AFTER = re.compile(r"^了?(似的|一样|一般|的感觉)")
# "被偷过", "拿走过两回", "已经绊倒两个人了": an experience or a count of past events, not now.
_EVENTS_AFTER = re.compile(r"^(过(?!来|去)|了?(一|两|三|四|几|好几)(回|次|趟|个人了))")
# "我不是闻到煤气味": the perception itself denied.
_DENIED_BEFORE = re.compile(r"(不是|没有|没|并没有?)(闻到|闻着|看到|看见|听到|感觉到?|觉得|有)(一股|点|些)?$")
# Person hazards over: "人没事儿出来了", "孩子已经接出来了", "幸亏没事儿".
_PERSON_SAFE = re.compile("人没事|已经没事|没事儿了|没事了|幸亏没事|接出来了|已经出来了|救出来了|已经找到|找着了|找到了")
_PERSON_HAZARDS = frozenset({"injury", "locked_in", "lift", "missing"})
_PLANNED_AFTER = re.compile(r"^的?通知")
# Later in the call the caller found it harmless or already dealt with it ("…原来是臭鸡蛋", "已经关好了").
_CLEARED_LATER = re.compile("原来是|已经关好|一点味(儿)?都没|没味了|虚惊一场")
# A thank-you or a follow-up about an event that is over: nothing in it is happening now.
_GRATITUDE = re.compile("锦旗|表扬|感谢|谢谢你们|谢谢啊|多谢")
_FOLLOW_UP = re.compile("没下文|没有下文|没回音|有消息没|怎么样了|咋样了|怎样了|处理结果|查到了吗|查得怎么样|是真的吗|是不是真的")
# A lift that stopped with nobody inside is a repair, not a rescue.
_LIFT_EMPTY = re.compile("里面没人|里头没人|没人被困|没困人|没关人|没有人被困|没有困人|已经出来|放出来了")
_ANY_PAST = re.compile("上次|上回|那天|那次|昨天|前天|上个月|上周|上礼拜|去年|当时")
_NOT_HOME_POWER = re.compile(
    f"((?<!库)车|烟感|电池|遥控|门锁|指纹锁|电瓶|手机|电动车|充电桩|插座|电卡|卡里|燃气表|水表|门铃|对讲|灯|{_DEVICE}).{{0,6}}$"
)
# Only a device without power ("烟感报警器一直响，不是有烟，是没电了吧"), said anywhere just before.
_NOT_HOME_DEVICE = re.compile("烟感|遥控器|门锁|指纹锁|电池|电动车|手机|门铃")
_CLAUSE = re.compile("[，。！？；,.!?;…]")
_FEAR = ("怕", "担心")


@dataclass(frozen=True)
class HazardMatch:
    """An urgent hazard found in a transcript: its class and the words that show it."""

    hazard: str
    evidence: Evidence
    confidence: float

    @property
    def name(self) -> str:
        """Chinese name of the class, for the panel and the notices."""
        return HAZARD_NAMES[self.hazard]

    @property
    def route(self) -> tuple[str, str]:
        return hazard_route(self.hazard)


def _sentence_start(text: str, position: int) -> int:
    for index in range(position - 1, -1, -1):
        if text[index] in "。！？!?；;…":
            return index + 1
    return 0


def _clause_start(text: str, position: int) -> int:
    for index in range(position - 1, -1, -1):
        if _CLAUSE.match(text[index]):
            return index + 1
    return 0


def _negated(text: str, position: int) -> bool:
    before = text[max(0, position - 4) : position]
    return any(before.endswith(word) for word in _NEGATION_BEFORE)


def _denied(text: str, start: int, core: int | None) -> bool:
    """The mention itself is negated: "没有漏气", "我不是闻到煤气味", "孩子…没有被锁"."""
    return (_negated(text, start) or (core is not None and _negated(text, core))
            or _DENIED_BEFORE.search(text[max(0, start - 8) : start]) is not None)


def _suppressed(trigger: _Trigger, text: str, start: int, end: int, core: int | None = None) -> bool:
    if _denied(text, start, core):
        return True
    clause_start = _clause_start(text, start)
    near = text[max(clause_start, start - 12) : start]
    hypothetical = _HYPOTHETICAL.search(near) or _HYPOTHETICAL_SENTENCE.search(
        text[max(_sentence_start(text, start), start - 30) : start])
    if hypothetical and not (trigger.fear_is_real and hypothetical.group(0) in _FEAR):
        return True
    if near.endswith("会") and not trigger.fear_is_real:  # "随时会掉下来" is the danger itself
        return True
    if trigger.exclude is not None and trigger.exclude.search(text[max(0, start - 16) : end]):
        return True
    after = text[end : end + 12]
    if _RESOLVED_AFTER.match(after) or _AFTER_NOT_NOW.match(after):
        return True
    if _WHAT_IF_DIRECT.match(after) or (_WHAT_IF_AFTER.match(after) and "真" in text[max(0, start - 3) : start]):
        return True
    if _RHETORICAL_AFTER.match(after) or _SIMILE_AFTER.match(after) or _EVENTS_AFTER.match(after):
        return True
    if _CLEARED_LATER.search(text[end : end + 60]):
        return True
    if trigger.hazard in _PERSON_HAZARDS and _PERSON_SAFE.search(text):
        return True
    if _FOLLOW_UP.search(text) or (_GRATITUDE.search(text) and _ANY_PAST.search(text)):
        return True
    clause = text[max(clause_start, start - 16) : end + 4]
    # the past may be named earlier in the same sentence ("上回对面楼有个老人犯病，救护车进不来")
    window = text[max(_sentence_start(text, start), start - 30) : start]
    past = _PAST.search(window) or (not trigger.habitual_ok and _HABITUAL.search(window))
    if past and not _PRESENT.search(clause):
        return True
    if trigger.hazard == "lift" and _LIFT_EMPTY.search(text):
        return True
    if trigger.plannable and (
        _PLANNED_BEFORE.search(text[max(clause_start, start - 10) : start]) or _PLANNED_AFTER.match(after)
    ):
        return True
    if trigger.hazard == "power" and _NOT_HOME_POWER.search(text[max(0, start - 8) : start]):
        return True
    if trigger.hazard == "power" and _NOT_HOME_DEVICE.search(text[max(0, start - 20) : start]):
        return True
    # "不急", "有点滴": the caller calls this fault minor (said near it, not about another problem)
    return trigger.minor_applies and _MINOR.search(text[max(0, start - 24) : end + 24]) is not None


def detect_hazard(text: str) -> HazardMatch | None:
    """The most specific urgent hazard in `text` (a transcript, final or partial), or None."""
    if not text:
        return None
    compact = normalized(text)
    found: list[tuple[int, int, int, _Trigger]] = []  # (start, end, table order, trigger)
    denied: list[tuple[int, int, str]] = []  # negated mentions (start, end, hazard)
    for order, trigger in enumerate(TRIGGERS):
        for match in trigger.pattern.finditer(compact.text):
            start, end = match.span()
            core = match.start("core") if "core" in trigger.pattern.groupindex and match.group("core") else None
            if end <= start:
                continue
            if _denied(compact.text, start, core):
                denied.append((start, end, trigger.hazard))
            elif not _suppressed(trigger, compact.text, start, end, core):
                found.append((start, end, order, trigger))
                break  # the first live match of a trigger is enough
    # a match inside a denied mention of the same class is that mention ("没有煤气味了…燃气灶")
    found = [f for f in found if not any(h == f[3].hazard and s <= f[0] < e for s, e, h in denied)]
    if not found:
        return None
    # A match inside a longer one of another class is that class's ("插座冒烟" ⊃ "冒烟").
    kept = [
        f for f in found
        if not any(o is not f and o[0] <= f[0] and f[1] <= o[1] and (o[1] - o[0]) > (f[1] - f[0]) for o in found)
    ]  # fmt: skip
    start, end, _order, trigger = min(kept, key=lambda f: (f[2], f[0]))
    hazard = trigger.hazard
    if hazard == "locked_in" and "梯" in compact.text[start:end]:
        hazard = "lift"  # "儿子在电梯里出不来": shut in a lift is the lift engineers' rescue
    return HazardMatch(hazard, compact.evidence(start, end, f"hazard:{hazard}"), trigger.confidence)
