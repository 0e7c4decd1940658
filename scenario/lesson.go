package scenario

// LessonState is what the UI shows of a scenario being played.
type LessonState struct {
	Title        string // the scenario's title
	Chapter      string // current chapter title ("" before the first)
	ChapterIndex int    // 1-based; 0 before the first chapter
	Chapters     int    // chapters in the scenario
	Caption      string // the latest say "..." text in this chapter
	// WaitingForKey: the chapter's commands are done and the next chapter
	// waits for the viewer (Next).
	WaitingForKey bool
	Done          bool   // the whole scenario has played
	Failed        string // the first expect that failed, if any
	// NextChapter is the title of the chapter Next starts ("" after the
	// last), so a waiting screen can say what comes.
	NextChapter string
}

// Lesson is the control surface the UI uses while a scenario plays.
type Lesson interface {
	State() LessonState
	Next()    // go to the next chapter now
	Prev()    // go back to the previous chapter's start
	Restart() // restart the current chapter
}
