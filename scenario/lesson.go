package scenario

// LessonState is what the UI shows of a scenario being played. It is a
// plain value (comparable with ==), so the UI can tell when it changed.
type LessonState struct {
	Title        string // the scenario's title
	Summary      string // its one-line summary
	Chapter      string // current chapter title ("" before the first)
	ChapterIndex int    // 1-based; 0 before the first chapter (the setup)
	Chapters     int    // chapters in the scenario
	// Step is the presenter's step within the chapter, 1-based (0 during
	// the setup), and Steps how many the chapter has. A step is a caption
	// and the lines after it up to the next caption.
	Step, Steps int
	Caption     string // the step's caption ("" until its say line ran)
	// Points are what the step points at, in order; unused entries are
	// zero. They stay until the next step.
	Points [MaxPoints]Point
	// Hold describes the held moment in effect ("world frozen", "slow
	// motion 1/8×"), or is "".
	Hold string
	// WaitingForKey: the step's lines are done and the presenter moves
	// on with Next.
	WaitingForKey bool
	// Pending: Next was asked while the step's lines were still running;
	// the next step starts as soon as they are done.
	Pending bool
	Done    bool   // the whole scenario has played
	Failed  string // the first expect that failed in this chapter, if any
	// Notice says why a request could not be done (going back with no
	// checkpoint, a checkpoint that failed); "" when all is well.
	Notice string
	// NextChapter is the title of the chapter after this one ("" after
	// the last), so a waiting screen can say what comes.
	NextChapter string
	// CanGoBack: the world can be taken back to a chapter's start (Prev,
	// Restart, Back).
	CanGoBack bool
}

// Lesson is the control surface the UI uses while a scenario plays.
type Lesson interface {
	State() LessonState
	// Next moves on one step: to the next caption, or the next chapter
	// after a chapter's last step. Asked while the step's lines still run,
	// it starts the next step as soon as they are done.
	Next()
	Prev()    // back to the start of the previous chapter, the world as it was then
	Restart() // back to the start of this chapter, the world as it was then
	// Back is what a clicker's "previous" does: Restart after the
	// chapter's first step, Prev on it.
	Back()
}

// Rewinder is a controller that can save the whole world and take it back
// there later: each node's WAL files, store and positions, the links and
// their faults, the sync rule, the workload and the world clock. The
// player checkpoints the world as each chapter starts and rewinds to it
// when the presenter goes back, so a chapter plays the same the second
// time.
type Rewinder interface {
	// Checkpoint saves the world under name, replacing what was saved
	// under that name before.
	Checkpoint(name string) error
	// Rewind takes the world back to the checkpoint saved under name.
	Rewind(name string) error
}

// WithRewinder lets a Player take the world back to a chapter's start
// (Prev, Restart, Back) through rw, which is usually the controller
// itself. Without one the player refuses to go back, rather than re-run a
// chapter's lines on a world that has moved on.
func WithRewinder(rw Rewinder) Option {
	return func(o *options) { o.rewinder = rw }
}
